/**
 * Where the embedded start's time goes, run by the bench in a process of its own:
 *   node --import tsx bench/lib/startup-phases.ts <DATA_DIR>
 * prints JSON: Node + tsx boot, loading the app's module graph (what src/main.ts imports), opening PGlite on the
 * prepared directory, the migration check, and the rest of buildApp (routes, schemas, Socket.IO) and listen.
 * A diagnostic beside the start-to-ready number, not part of it.
 */
const boot = performance.now();
const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: startup-phases.ts <DATA_DIR>');
const t0 = performance.now();
const { buildApp } = await import('../../src/app.js');
const { loadConfig } = await import('../../src/config.js');
const t1 = performance.now();
const { openDatabase } = await import('../../src/db/client.js');
const database = await openDatabase({ dataDir: `${dataDir}/db` });
const t2 = performance.now();
await database.migrate();
const t3 = performance.now();
const config = loadConfig({ ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'silent', PORT: '0', HOST: '127.0.0.1' });
const app = await buildApp(config, { database });
const t4 = performance.now();
await app.http.listen({ port: 0, host: '127.0.0.1' });
const t5 = performance.now();
await app.close();
process.stdout.write(
  JSON.stringify({
    nodeAndTsxBootMs: boot,
    importAppMs: t1 - t0,
    openPgliteMs: t2 - t1,
    migrateMs: t3 - t2,
    buildAppMs: t4 - t3,
    listenMs: t5 - t4,
  }) + '\n',
);
process.exit(0);
