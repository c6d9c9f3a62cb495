import { sql, type SQL } from 'drizzle-orm';
import type { Executor } from './client.js';

/** Raw SQL returning rows, the same on both drivers. */
export async function queryRows<T>(db: Executor, query: SQL): Promise<T[]> {
  const res = (await db.execute(query)) as unknown as { rows: T[] };
  return res.rows;
}

/** A nullable timestamp of a raw row: a Date from `pg`, text from PGlite's text path. */
export const rowDate = (v: Date | string | null): Date | null => (v === null ? null : new Date(v));

/**
 * `= ${anyOf(ids, 'uuid')}`: a list of keys matched against an indexed column. Passed as one jsonb value (one bind
 * parameter however long the list) and unpacked into an array, never `in (select … from jsonb_…)`: the planner cannot
 * see how many elements a jsonb holds, guesses 100, and on tables of some thousands of rows, or a queue whose
 * statistics lag its churn, hashed that guess against a sequential scan of the whole table (seconds a statement
 * once a backlog built up). `= any(array(…))` is an index lookup on every plan (`test/sql-plans.test.ts`).
 * `list`: the SQL of a jsonb array (a prepared statement's parameter), or the keys themselves.
 */
export function anyOf(list: SQL | readonly (string | number)[], type: 'uuid' | 'bigint' | 'text'): SQL {
  const json = Array.isArray(list) ? sql`${JSON.stringify(list)}::jsonb` : (list as SQL);
  const elements = sql`jsonb_array_elements_text(${json})`;
  return type === 'text' ? sql`any(array(select ${elements}))` : sql`any(array(select ${elements}::${sql.raw(type)}))`;
}
