/**
 * Preloaded into the servers under test by the bench (`node --expose-gc --import tsx --import ./bench/lib/probe.ts …`),
 * never by the service itself. Over the IPC channel it answers memory readings after a full GC and starts/stops the
 * V8 CPU profiler around one scenario; and it stops the server when the bench that started it goes away.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

type Ask =
  | { type: 'mem'; id: number; gc: boolean }
  | { type: 'prof-start'; id: number }
  | { type: 'prof-stop'; id: number; file: string }
  | { type: 'sql-start'; id: number }
  | { type: 'sql-stop'; id: number };

/**
 * Counts the statements the service sends, by SQL text: every Drizzle query of a database without a logger goes through
 * NoopLogger.logQuery (both drivers); PGlite runs BEGIN/COMMIT inside client.transaction, counted there.
 */
let sqlCounts: Map<string, number> | undefined;
let patched = false;
async function patchSqlCounter(): Promise<void> {
  if (patched) return;
  patched = true;
  const { NoopLogger } = await import('drizzle-orm/logger');
  // The no-op logger does nothing; counting is all the replacement does.
  (NoopLogger.prototype as { logQuery: (query: string) => void }).logQuery = (query: string) => {
    if (sqlCounts) {
      const key = query.replace(/\s+/g, ' ').slice(0, 160);
      sqlCounts.set(key, (sqlCounts.get(key) ?? 0) + 1);
    }
  };
  const { PgliteSession } = await import('drizzle-orm/pglite/session');
  const tx = PgliteSession.prototype.transaction;
  PgliteSession.prototype.transaction = function (this: unknown, ...args: Parameters<typeof tx>) {
    if (sqlCounts) sqlCounts.set('begin … commit (PGlite transaction)', (sqlCounts.get('begin … commit (PGlite transaction)') ?? 0) + 1);
    return tx.apply(this as never, args);
  } as typeof tx;
}

if (process.send) {
  let session: Session | undefined;
  const post = (method: string, params?: object) =>
    new Promise<any>((resolve, reject) => session!.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  const answer = (id: number, extra: object = {}) => process.send!({ id, ...extra });
  process.on('message', (m: Ask) => {
    if (m?.type === 'mem') {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (m.gc && gc) {
        gc();
        gc();
      }
      answer(m.id, { mem: process.memoryUsage() });
    } else if (m?.type === 'prof-start') {
      session ??= new Session();
      session.connect();
      void post('Profiler.enable')
        .then(() => post('Profiler.setSamplingInterval', { interval: 500 }))
        .then(() => post('Profiler.start'))
        .then(
          () => answer(m.id),
          (err: Error) => answer(m.id, { error: err.message }),
        );
    } else if (m?.type === 'sql-start') {
      void patchSqlCounter().then(
        () => {
          sqlCounts = new Map();
          answer(m.id);
        },
        (err: Error) => answer(m.id, { error: err.message }),
      );
    } else if (m?.type === 'sql-stop') {
      answer(m.id, { sql: Object.fromEntries(sqlCounts ?? []) });
      sqlCounts = undefined;
    } else if (m?.type === 'prof-stop' && session) {
      void post('Profiler.stop')
        .then((res: { profile: unknown }) => {
          writeFileSync(m.file, JSON.stringify(res.profile));
          session!.disconnect();
          session = undefined;
          answer(m.id);
        })
        .catch((err: Error) => answer(m.id, { error: err.message }));
    }
  });
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  process.channel?.unref();
}
