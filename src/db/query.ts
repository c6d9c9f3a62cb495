import type { SQL } from 'drizzle-orm';
import type { Executor } from './client.js';

/** Raw SQL returning rows, the same on both drivers. */
export async function queryRows<T>(db: Executor, query: SQL): Promise<T[]> {
  const res = (await db.execute(query)) as unknown as { rows: T[] };
  return res.rows;
}

/** A nullable timestamp of a raw row: a Date from `pg`, text from PGlite's text path. */
export const rowDate = (v: Date | string | null): Date | null => (v === null ? null : new Date(v));
