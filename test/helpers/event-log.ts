import type { SQL } from 'drizzle-orm';
import { afterAll, beforeAll } from 'vitest';
import { queryRows, type Db } from '../../src/db/client.js';
import { EventLogRepository } from '../../src/event-log/event-log.repository.js';
import { startTestApp, type TestApp } from './app.js';

/**
 * The event-log suites' app: one per file, its database and log repository read once `beforeAll` has run, and a
 * logger that keeps the consumers' error messages for assertions instead of printing them.
 */
export function eventLogSuite() {
  const suite = {
    t: undefined as unknown as TestApp,
    db: undefined as unknown as Db,
    log: undefined as unknown as EventLogRepository,
    errors: [] as string[],
    quiet: { error: (_obj: object, msg: string) => void suite.errors.push(msg) },
    rows: <T>(query: SQL) => queryRows<T>(suite.db, query),
  };
  beforeAll(async () => {
    suite.t = await startTestApp();
    suite.db = suite.t.app.database.db;
    suite.log = new EventLogRepository(suite.db);
  });
  afterAll(async () => suite.t?.close());
  return suite;
}
