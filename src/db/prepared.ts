import { sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { queryRows, type Executor } from './client.js';

const dialect = new PgDialect();

interface PgliteLike {
  exec(query: string): Promise<unknown>;
  query<T>(query: string): Promise<{ rows: T[] }>;
}
interface QueryLogger {
  logQuery(query: string, params: unknown[]): void;
}
interface PoolLike {
  query<T>(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: T[] }>;
}

/**
 * A statement on the hot path (a send, the room check of every request), prepared once per connection and then only
 * executed with new parameters: no parsing, no planning, no query building per call. On PGlite parsing and planning
 * the send statement is two thirds of its cost. `build` makes the statement from its parameters; inside a transaction
 * (its own connection, or PGlite's session in a state we do not track) it runs the ordinary way.
 */
export function hotStatement<T>(name: string, types: string[], build: (...params: SQL[]) => SQL) {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad statement name: ${name}`);
  const text = dialect.sqlToQuery(build(...types.map((type, i) => sql.raw(`$${i + 1}::${type}`)))).sql;
  const preparedOn = new WeakSet<object>();
  const preparing = new WeakMap<object, Promise<unknown>>();
  /** The statement with these values, as ordinary SQL: what runs inside a transaction, and what a plan test EXPLAINs. */
  const inline = (params: unknown[]): SQL => build(...params.map((p, i) => sql`${p}::${sql.raw(types[i]!)}`));

  const run = async (db: Executor, params: unknown[]): Promise<T[]> => {
    const client = (db as { $client?: unknown }).$client;
    // Told to the ORM's query logger like every other statement, so query logs and statement counts stay whole.
    if (client) (db as { session?: { logger?: QueryLogger } }).session?.logger?.logQuery(text, params);
    if (isPglite(client)) {
      if (!preparedOn.has(client)) {
        let p = preparing.get(client);
        if (!p) {
          p = client.exec(`prepare ${name} (${types.join(', ')}) as ${text}`);
          preparing.set(client, p);
          p.then(
            () => preparedOn.add(client),
            () => preparing.delete(client),
          );
        }
        await p;
      }
      // EXECUTE takes no bind parameters: the values go in as literals, quoted below.
      return (await client.query<T>(`execute ${name} (${params.map(literal).join(', ')})`)).rows;
    }
    if (isPool(client)) return (await client.query<T>({ name, text, values: params })).rows;
    return queryRows<T>(db, inline(params));
  };
  /**
   * PREPARE for a plan test: after five executions PostgreSQL may run a prepared statement by its generic plan, made
   * without the values, and that plan is what a test must look at (see test/sql-plans-generic.test.ts).
   */
  const prepareAs = (as: string): SQL => sql.raw(`prepare ${as} (${types.join(', ')}) as ${text}`);
  return Object.assign(run, { inline, prepareAs });
}

function isPglite(client: unknown): client is PgliteLike {
  return typeof client === 'object' && client !== null && 'exec' in client && 'transaction' in client && !('totalCount' in client);
}

function isPool(client: unknown): client is PoolLike {
  return typeof client === 'object' && client !== null && 'totalCount' in client;
}

/**
 * A value as an SQL literal. Strings become standard-conforming '…' literals, in which doubling the quote is the whole
 * escape; NUL (which PostgreSQL text cannot hold, and which would cut the statement short) is refused.
 */
export function literal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('not a finite number');
    return String(value);
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (text.includes('\0')) throw new Error('text must not contain NUL');
  return `'${text.replaceAll("'", "''")}'`;
}
