import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { pinning, ROOT, spawnServer, waitHealthy } from '../lib/processes.js';

/**
 * `node --import tsx src/main.ts` on a DATA_DIR (the embedded default when env has no DATABASE_URL), timed from spawn
 * until GET /health answers 200; polled every 5 ms.
 */
export async function startToReady(
  env: Record<string, string>,
  samples: number,
  main: string | string[] = 'src/main.ts',
  /** `main` is a launcher (npm) that runs the service as its child. */
  launcher = false,
): Promise<number[]> {
  const out: number[] = [];
  const args = typeof main === 'string' ? [main] : main;
  // A script of JavaScript (the compiled service, npm's CLI) runs without tsx's loader.
  const compiled = args[0]!.endsWith('.js');
  for (let i = 0; i < samples; i++) {
    const server = await spawnServer({ name: 'startup', args, env: { LOG_LEVEL: 'warn', ...env }, compiled, group: launcher });
    try {
      out.push(await waitHealthy(server, 120_000, 5));
    } finally {
      await server.stop();
    }
  }
  return out;
}

export interface StartupPhases {
  nodeAndTsxBootMs: number;
  importAppMs: number;
  openPgliteMs: number;
  migrateMs: number;
  buildAppMs: number;
  listenMs: number;
}

/** The phases of an embedded start on `dataDir` (bench/lib/startup-phases.ts), pinned like the servers. */
export function startupPhases(dataDir: string): Promise<StartupPhases> {
  const args = ['--import', 'tsx', 'bench/lib/startup-phases.ts', dataDir];
  const [cmd, argv] = pinning ? ['taskset', ['-c', pinning.server, process.execPath, ...args]] : [process.execPath, args];
  return new Promise((resolve, reject) =>
    execFile(cmd, argv as string[], { cwd: ROOT, timeout: 120_000, env: { ...process.env, NODE_OPTIONS: '' } }, (err, stdout) => {
      if (err) return reject(err);
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!) as StartupPhases);
      } catch (e) {
        reject(e as Error);
      }
    }),
  );
}

/**
 * `npm start` itself, as a user runs it after `npm install` (whose `prepare` builds): npm, then scripts/start.js, which
 * runs the compiled service when dist/ is at least as new as src/. Builds first (`npm run build`) when it is not.
 */
export async function npmStartToReady(env: Record<string, string>, samples: number): Promise<number[]> {
  const npm = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  if (!existsSync(npm)) throw new Error(`npm is not at ${npm}`);
  const built = existsSync(path.join(ROOT, 'dist', '.build-stamp'));
  const stale = !built || newest(path.join(ROOT, 'src')) > statSync(path.join(ROOT, 'dist', '.build-stamp')).mtimeMs;
  if (stale) {
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, [npm, 'run', 'build'], { cwd: ROOT, timeout: 600_000 }, (err, stdout) =>
        err ? reject(new Error(`npm run build failed: ${stdout || err.message}`)) : resolve(),
      ),
    );
  }
  return startToReady(env, samples, [npm, 'start', '--silent'], true);
}

/** The newest modification time under `dir`: scripts/start.js decides the same way (it cannot be imported: it starts the service). */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const at = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(at) : statSync(at).mtimeMs);
  }
  return latest;
}

/**
 * The start as deployed (`npm run build && npm run start:prod`): the service compiled by tsc into a temporary
 * directory in the project (the migrations copied beside it) and bundled from there, as the build script does, then
 * `node server/main.js` timed like the above.
 */
export async function compiledStartToReady(env: Record<string, string>, samples: number): Promise<number[]> {
  // Inside the project, so the compiled modules resolve the packages in node_modules.
  const out = mkdtempSync(path.join(ROOT, '.bench-dist-'));
  try {
    await new Promise<void>((resolve, reject) =>
      execFile(
        process.execPath,
        ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json', '--outDir', out, '--declaration', 'false', '--sourceMap', 'false'],
        { cwd: ROOT, timeout: 300_000 },
        (err, stdout) => (err ? reject(new Error(`tsc failed: ${stdout || err.message}`)) : resolve()),
      ),
    );
    cpSync(path.join(ROOT, 'src/db/migrations'), path.join(out, 'db/migrations'), { recursive: true });
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, ['scripts/bundle.mjs', out], { cwd: ROOT, timeout: 300_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`bundling failed: ${stderr || stdout || err.message}`)) : resolve(),
      ),
    );
    return await startToReady(env, samples, path.join(out, 'server', 'main.js'));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
