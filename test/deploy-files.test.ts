import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { MIGRATIONS_DIR } from '../src/db/client.js';
import { DEFAULT_WEB_DIR } from '../src/http/web-app.js';
import { settingsRead } from './helpers/settings.js';

// What can be checked of the container files without a container engine: the paths the image relies on, the
// compose file's settings, the healthcheck. The files do not depend on the project's engine: once, in PGlite.
const here = inject('template').kind === 'pglite';
const root = path.join(import.meta.dirname, '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const run = promisify(execFile);

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string | undefined;
  image: string;
  steps: Instruction[];
}

/** The Dockerfile's stages and their instructions: continuations joined, comments dropped, ARG defaults expanded. */
function dockerfile(): Stage[] {
  const lines = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const expanded = rest.replace(/\$\{(\w+)\}/g, (all, name: string) => args.get(name) ?? all);
    if (op.toUpperCase() === 'ARG' && !stages.length) {
      const [name = '', value = ''] = rest.split('=');
      args.set(name, value);
    } else if (op.toUpperCase() === 'FROM') {
      const [image = '', , name] = expanded.split(/\s+/);
      stages.push({ name, image, steps: [] });
    } else {
      stages.at(-1)?.steps.push({ op: op.toUpperCase(), args: expanded });
    }
  }
  return stages;
}

const stepsOf = (stage: Stage, op: string) => stage.steps.filter((s) => s.op === op).map((s) => s.args);
const execForm = (args: string): string[] => JSON.parse(args) as string[];
/** ENV a=b c=d (the one form the Dockerfile uses). */
const envOf = (stage: Stage) =>
  new Map(stepsOf(stage, 'ENV').flatMap((a) => [...a.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!] as const)));
/** What each COPY puts where, as absolute paths in the stage (relative destinations are under the WORKDIR then). */
function copies(stage: Stage): Array<{ from: string | undefined; sources: string[]; landed: string[] }> {
  let workdir = '/';
  const out: Array<{ from: string | undefined; sources: string[]; landed: string[] }> = [];
  for (const { op, args } of stage.steps) {
    if (op === 'WORKDIR') workdir = path.posix.resolve(workdir, args);
    if (op !== 'COPY') continue;
    const words = args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const paths = words.filter((w) => !w.startsWith('--'));
    const target = paths.at(-1)!;
    const sources = paths.slice(0, -1);
    const dest = path.posix.resolve(workdir, target);
    // A destination ending in / is a directory: each source lands inside it under its own name.
    const landed = target.endsWith('/') ? sources.map((src) => path.posix.join(dest, path.posix.basename(src))) : [dest];
    out.push({ from, sources, landed });
  }
  return out;
}

/**
 * What scripts/bundle.mjs bundles into dist/server/ (entryNames [name]), by the file of tsc's output each comes from;
 * `bundle` checks the script says so.
 */
const BUNDLE_ENTRIES: Record<string, string> = {
  'dist/server/main.js': 'dist/main.js',
  'dist/server/pglite-worker.thread.js': 'dist/db/pglite-worker.thread.js',
};

/**
 * dist/x/y.js → src/x/y.ts, by tsconfig.json's outDir and rootDir (what `tsc -p tsconfig.json` in the build emits);
 * a bundle's entry (dist/server/) → the source of the compiled file it was made from.
 */
function sourceOf(compiled: string): string {
  if (compiled.startsWith('dist/server/')) {
    const from = BUNDLE_ENTRIES[compiled];
    expect(from, `${compiled} is not an entry of scripts/bundle.mjs`).toBeDefined();
    return sourceOf(from!);
  }
  const { compilerOptions } = JSON.parse(read('tsconfig.json')) as { compilerOptions: { outDir: string; rootDir: string } };
  const rel = path.posix.relative(path.posix.normalize(compilerOptions.outDir), compiled);
  expect(rel.startsWith('..'), `${compiled} is not under outDir ${compilerOptions.outDir}`).toBe(false);
  return path.posix.join(compilerOptions.rootDir, rel.replace(/\.js$/, '.ts'));
}

/** The environment compose gives a service, as names (map or KEY=value list form). */
function environmentOf(service: { environment?: Record<string, unknown> | string[] }): string[] {
  const env = service.environment ?? {};
  return Array.isArray(env) ? env.map((e) => e.split('=')[0]!) : Object.keys(env);
}

interface ComposeService {
  build?: unknown;
  image?: string;
  environment?: Record<string, string> | string[];
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

describe.runIf(here)('the container image (Dockerfile)', () => {
  const stages = dockerfile();
  const runtime = stages.at(-1)!;
  const build = stages.find((s) => s.name === 'build');

  it('builds in one stage and runs in a slim Debian Node 20 image', () => {
    expect(build, 'a stage named build').toBeDefined();
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stepsOf(build!, 'RUN')).toEqual(expect.arrayContaining([expect.stringMatching(/npm ci\b/), 'npm run build']));
    // glibc: the embedded PostgreSQL binaries and sharp's libvips are glibc builds; Node 20 is what package.json asks.
    for (const stage of stages) expect(stage.image).toMatch(/^node:20-(bookworm|trixie)(-slim)?$/);
    expect(read('package.json')).toContain('"node": ">=20"');
  });

  it('starts the compiled server, whose source exists', () => {
    const cmd = execForm(stepsOf(runtime, 'CMD').at(-1)!);
    expect(cmd[0]).toBe('node');
    const entry = cmd[1]!;
    expect(sourceOf(entry)).toBe('src/main.ts');
    expect(existsSync(path.join(root, sourceOf(entry)))).toBe(true);
    // The runtime gets the build's outDir, and package.json ("type": "module", or Node reads dist/*.js as CommonJS).
    const landed = copies(runtime).flatMap((c) => c.landed);
    expect(landed).toEqual(expect.arrayContaining(['/app/dist', '/app/package.json', '/app/node_modules']));
    expect(JSON.parse(read('package.json'))).toMatchObject({ type: 'module' });
  });

  it('runs the bundle the build makes of the compiled server', () => {
    const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(scripts['build']).toMatch(/^tsc -p tsconfig\.json && .*node scripts\/bundle\.mjs/);
    expect(scripts['start:prod']).toBe(`node ${execForm(stepsOf(runtime, 'CMD').at(-1)!)[1]}`);
    const script = read('scripts/bundle.mjs');
    for (const [entry, from] of Object.entries(BUNDLE_ENTRIES)) {
      expect(path.posix.dirname(entry)).toBe('dist/server');
      const parts = path.posix
        .relative('dist', from)
        .split('/')
        .map((p) => `'${p}'`)
        .join(', ');
      expect(script, `${entry} ← ${from}`).toContain(`path.join(dist, ${parts})`);
    }
  });

  it('every compiled file the image and docs/deploy.md run has its source', () => {
    const named = new Set([...`${read('Dockerfile')}\n${read('docs/deploy.md')}`.matchAll(/\bdist\/[\w./-]+\.js\b/g)].map((m) => m[0]));
    expect(named.size).toBeGreaterThan(2);
    for (const file of named) expect(existsSync(path.join(root, sourceOf(file))), `${file} ← ${sourceOf(file)}`).toBe(true);
  });

  it('carries what the server reads beside its code: migrations and the built web app', () => {
    // The migrations are read next to db/client, so the build copies them into the same place under dist.
    expect(path.relative(root, MIGRATIONS_DIR)).toBe('src/db/migrations');
    const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(scripts['build']).toContain("cpSync('src/db/migrations','dist/db/migrations'");
    expect(scripts['build']).toContain('npm run build -w web');
    // The web app is looked up two folders above http/web-app: web/dist from src/http and from dist/http alike.
    expect(path.relative(root, DEFAULT_WEB_DIR)).toBe('web/dist');
    const web = copies(runtime).find((c) => c.landed.includes('/app/web/dist'));
    expect(web).toMatchObject({ from: 'build', sources: ['/app/web/dist'] });
    expect(copies(runtime).find((c) => c.landed.includes('/app/dist'))).toMatchObject({ from: 'build', sources: ['/app/dist'] });
    // …and the build stage built where the runtime takes it from.
    expect(stepsOf(build!, 'WORKDIR')).toEqual(['/app']);
  });

  it('copies into the build only files the repository has and the build context keeps', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const sources = stages.flatMap((s) => copies(s).filter((c) => !c.from)).flatMap((c) => c.sources);
    expect(sources).toEqual(expect.arrayContaining(['package-lock.json', 'src', 'web/package.json']));
    for (const source of sources) {
      expect(existsSync(path.join(root, source)), source).toBe(true);
      const hidden = ignored.filter((p) => source === p || source.startsWith(`${p}/`));
      expect(hidden, `${source} is excluded by .dockerignore`).toEqual([]);
    }
    // Local installs, builds, data and secrets stay out of the context.
    expect(ignored).toEqual(expect.arrayContaining(['**/node_modules', 'dist', 'data', '.env']));
  });

  it('runs as a user that is not root, with DATA_DIR a volume and the port exposed', () => {
    const user = stepsOf(runtime, 'USER').at(-1);
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user!.split(':')[0]);
    const userAt = runtime.steps.findIndex((s) => s.op === 'USER');
    expect(runtime.steps.findIndex((s) => s.op === 'CMD')).toBeGreaterThan(userAt);
    const env = envOf(runtime);
    expect(env.get('NODE_ENV')).toBe('production');
    const dataDir = env.get('DATA_DIR')!;
    expect(dataDir).toMatch(/^\//);
    expect(stepsOf(runtime, 'VOLUME').join(' ')).toContain(dataDir);
    // The volume's directory belongs to that user (a new named volume takes its owner).
    expect(stepsOf(runtime, 'RUN').join(' ')).toMatch(new RegExp(`chown ${user}(:\\S+)? ${dataDir}\\b`));
    expect(stepsOf(runtime, 'EXPOSE')).toEqual([env.get('PORT')]);
  });

  describe('the healthcheck', () => {
    let status = 200;
    const asked: string[] = [];
    let server: Server;
    beforeAll(async () => {
      server = createServer((req, res) => {
        asked.push(req.url ?? '');
        res.writeHead(req.url === '/health' ? status : 404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    /** The image's HEALTHCHECK command, run here with PORT set as the image sets it: its exit code. */
    const check = async (): Promise<number> => {
      const line = stepsOf(runtime, 'HEALTHCHECK').at(-1)!;
      const [cmd, ...args] = execForm(line.slice(line.indexOf('CMD ') + 4));
      // Slim images have no curl or wget: the check must be Node itself.
      expect(cmd).toBe('node');
      const port = String((server.address() as AddressInfo).port);
      return run(process.execPath, args, { env: { ...process.env, PORT: port }, timeout: 10_000 }).then(
        () => 0,
        (err: { code?: number }) => err.code ?? -1,
      );
    };

    it('passes on 200 from /health and fails on 503', async () => {
      status = 200;
      expect(await check()).toBe(0);
      expect(asked.at(-1)).toBe('/health');
      status = 503;
      expect(await check()).toBe(1);
    });
  });
});

describe.runIf(here)('the compose file', () => {
  const compose = parseYaml(read('compose.yaml')) as { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };
  const services = compose.services;
  const instances = Object.entries(services).filter(([, s]) => s.build !== undefined);
  const dataDir = envOf(dockerfile().at(-1)!).get('DATA_DIR');

  it('runs PostgreSQL, Redis, a proxy and two instances built from the Dockerfile', () => {
    expect(instances.map(([name]) => name)).toHaveLength(2);
    expect(services['postgres']?.image).toMatch(/^postgres:\d+/);
    expect(services['redis']?.image).toMatch(/^redis:\d+/);
    expect(services['proxy']?.image).toMatch(/^nginx:/);
    expect(services['postgres']?.healthcheck?.test.join(' ')).toContain('pg_isready');
    for (const [, s] of instances) {
      expect(s.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    }
  });

  it('sets on the instances only variables the configuration reads, the same on each', () => {
    const known = new Set(settingsRead());
    // The scan itself must see the settings, or this test would pass on nothing.
    expect([...known]).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET', 'PUBLIC_URL']));
    for (const [name, s] of instances) {
      const set = environmentOf(s);
      expect(set, name).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET', 'PUBLIC_URL']));
      expect(
        set.filter((v) => !known.has(v)),
        `${name} sets variables nothing reads`,
      ).toEqual([]);
    }
    // A token or a signed media URL from one instance must hold on the other.
    expect(instances[0]![1].environment).toEqual(instances[1]![1].environment);
    const env = instances[0]![1].environment as Record<string, string>;
    expect(env['DATABASE_URL']).toMatch(/@postgres:5432\//);
    expect(env['REDIS_URL']).toMatch(/^redis:\/\/redis:6379/);
  });

  it('gives both instances one DATA_DIR, so local media written by one is served by the other', () => {
    const mounts = instances.map(([, s]) => (s.volumes ?? []).find((v) => v.split(':')[1] === dataDir));
    expect(mounts[0], `a volume at the image's DATA_DIR (${dataDir})`).toBeDefined();
    expect(mounts[1]).toBe(mounts[0]);
    expect(Object.keys(compose.volumes ?? {})).toContain(mounts[0]!.split(':')[0]);
  });

  it('puts a proxy in front that passes WebSockets to every instance, at PUBLIC_URL', () => {
    const proxy = services['proxy']!;
    const mount = (proxy.volumes ?? []).find((v) => v.includes('nginx'))!;
    const conf = read(mount.split(':')[0]!);
    const port = envOf(dockerfile().at(-1)!).get('PORT');
    for (const [name] of instances) expect(conf).toMatch(new RegExp(`server ${name}:${port}\\b`));
    expect(conf).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(conf).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    expect(conf).toMatch(/proxy_http_version 1\.1;/);
    // Polling sessions (the SDK starts on them) must come back to the instance that opened them.
    expect(conf).toMatch(/^\s*(ip_hash|hash \S+|sticky)\b/m);
    // Media URLs are absolute under PUBLIC_URL: by default the address the proxy is published at.
    const listen = /listen (\d+);/.exec(conf)?.[1];
    const published = proxy.ports?.[0]?.match(/(\d+)\}?:(\d+)$/);
    expect(published?.[2]).toBe(listen);
    const publicUrl = (instances[0]![1].environment as Record<string, string>)['PUBLIC_URL'];
    expect(publicUrl).toContain(`http://localhost:${published?.[1]}`);
  });
});
