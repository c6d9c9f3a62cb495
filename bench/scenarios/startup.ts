import { execFile } from 'node:child_process';
import { pinning, ROOT, spawnServer, waitHealthy } from '../lib/processes.js';

/**
 * `node --import tsx src/main.ts` on a DATA_DIR (the embedded default when env has no DATABASE_URL), timed from spawn
 * until GET /health answers 200; polled every 5 ms.
 */
export async function startToReady(env: Record<string, string>, samples: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const server = await spawnServer({ name: 'startup', args: ['src/main.ts'], env: { LOG_LEVEL: 'warn', ...env } });
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
