import { sql } from 'drizzle-orm';
import type { Executor } from './client.js';
import { queryRows } from './query.js';

/**
 * DATABASE_PARTITIONS: chat_message hash-partitioned by room_id, and its reactions and earlier versions by message_id.
 * Every query of the service names the room of the messages it reads (history, search in a room, changes, unread
 * counts), so each touches one partition's indexes, which stay a fraction of the size; a message looked up by id alone
 * probes every partition's primary key.
 *
 * The migrations make plain tables; this reshapes them afterwards, generically (constraints and indexes are read from
 * the catalogue and made again on the new parent), so a later migration that adds a column or an index applies to
 * either shape. Two things differ on a partitioned table, because PostgreSQL's unique constraints on it must contain
 * the partition key:
 * - a primary key without it gets it: chat_message's is (id, room_id), chat_message_edit's (id, message_id); id stays
 *   first, so a lookup by id alone is one index probe per partition;
 * - no other table's foreign key can reference chat_message(id). Those keys (edits, reactions, media, reports, sent
 *   notifications) are dropped. What they guarded still holds: the service never deletes a message row (deletes,
 *   purges, erasure and retention leave tombstones), and every write of a dependent row reads or locks its message in
 *   the same transaction.
 */

export const MESSAGE_TABLE = 'chat_message';

/**
 * The tables partitioned, in order, each by hash of its key with the same count: the messages by room, and what grows
 * with them (a message's reactions and earlier versions) by message, which is how they are read (a message's, or the
 * messages' of a page).
 */
const TABLES = [
  { table: MESSAGE_TABLE, key: 'room_id' },
  { table: 'chat_reaction', key: 'message_id' },
  { table: 'chat_message_edit', key: 'message_id' },
] as const;
type Partitioned = (typeof TABLES)[number];

export class PartitionsMismatch extends Error {
  override readonly name = 'PartitionsMismatch';
}

type Row = Record<string, unknown>;

const rows = <T extends Row>(db: Executor, query: string): Promise<T[]> => queryRows<T>(db, sql.raw(query));

/** For each of `tables`, in order: 1 for a plain table, else its number of hash partitions. One catalogue query. */
async function partitionCounts(db: Executor, tables: readonly string[]): Promise<number[]> {
  const found = await rows<{ name: string; kind: string; parts: number }>(
    db,
    `select c.relname::text as name, c.relkind::text as kind,
            (select count(*)::int from pg_inherits i where i.inhparent = c.oid) as parts
       from pg_class c where c.oid in (${tables.map((t) => `'public.${t}'::regclass`).join(', ')})`,
  );
  return tables.map((t) => {
    const shape = found.find((f) => f.name === t)!;
    return shape.kind === 'p' ? shape.parts : 1;
  });
}

/** 1 for a plain table, else the number of hash partitions `table` has. */
export async function partitionsOf(db: Executor, table: string): Promise<number> {
  return (await partitionCounts(db, [table]))[0]!;
}

/** 1 for the plain table, else the number of hash partitions chat_message has. */
export const messagePartitions = (db: Executor): Promise<number> => partitionsOf(db, MESSAGE_TABLE);

export interface PartitionOptions {
  /** Copy the messages of a database that has some (the service stopped); otherwise only an empty table is reshaped. */
  repartition?: boolean;
  log?: (message: string) => void;
}

/**
 * Makes chat_message and its dependents have `wanted` partitions, or says why not. Empty tables (a new install) are
 * reshaped at once; a database holding messages only with `repartition` (`npm run migrate -- --repartition`), which
 * copies every row in one transaction while the tables are locked. Going back to plain tables is refused: the foreign
 * keys dropped on the way are not made again.
 */
export async function ensureMessagePartitions(db: Executor, wanted: number, opts: PartitionOptions = {}): Promise<void> {
  // Every start asks, so once for all three.
  const current = await partitionCounts(
    db,
    TABLES.map((t) => t.table),
  );
  if (current.every((n) => n === wanted)) return;
  const messages = current[0]!;
  if (wanted === 1) {
    throw new PartitionsMismatch(
      `DATABASE_PARTITIONS=1 but chat_message has ${messages} partitions; set DATABASE_PARTITIONS=${messages} ` +
        '(a partitioned table is not turned back into one table: dump and restore into a new install instead)',
    );
  }
  const [{ any }] = (await rows<{ any: boolean }>(db, `select exists (select 1 from ${MESSAGE_TABLE}) as any`)) as [{ any: boolean }];
  if (any && !opts.repartition) {
    throw new PartitionsMismatch(
      `DATABASE_PARTITIONS=${wanted} but chat_message has ${messages === 1 ? 'no partitions' : `${messages} partitions`} and holds ` +
        `messages; stop every instance and run \`DATABASE_PARTITIONS=${wanted} npm run migrate -- --repartition\` once ` +
        '(it copies every message; see docs/deploy.md#partitioned-messages), or start with the old value',
    );
  }
  await db.transaction(async (tx) => {
    // chat_message first: reshaping it drops the foreign keys its dependents had to it.
    for (const [i, t] of TABLES.entries()) if (current[i] !== wanted) await reshape(tx, t, current[i]!, wanted, opts.log ?? (() => {}));
  });
}

interface ConstraintDef {
  name: string;
  type: string;
  def: string;
}

async function reshape(
  tx: Executor,
  { table, key }: Partitioned,
  current: number,
  wanted: number,
  log: (m: string) => void,
): Promise<void> {
  const t0 = Date.now();
  await tx.execute(sql.raw(`lock table ${table} in access exclusive mode`));
  // Top-level definitions only (conparentid = 0): on a partitioned table each one has a clone per partition.
  // Read before anything moves: the definitions name the table, which is the new one by the time they run again.
  const constraints = await rows<ConstraintDef & Row>(
    tx,
    `select conname as name, contype::text as type, pg_get_constraintdef(oid) as def
       from pg_constraint where conrelid = 'public.${table}'::regclass and contype in ('p', 'u', 'f', 'c')
        and conparentid = 0
      order by case contype when 'p' then 0 when 'u' then 1 when 'c' then 2 else 3 end, conname`,
  );
  // A partitioned index cannot be given storage parameters after it is made (migration 0016 sets them on its
  // partitions' indexes), so the partitions' are carried when the parent's definition has none.
  const indexes = await rows<{ name: string; def: string; partOptions: string | null }>(
    tx,
    `select i.relname as name, pg_get_indexdef(x.indexrelid) as def,
        (select array_to_string(c.reloptions, ', ') from pg_inherits h join pg_class c on c.oid = h.inhrelid
          where h.inhparent = x.indexrelid order by c.relname limit 1) as "partOptions"
       from pg_index x join pg_class i on i.oid = x.indexrelid
      where x.indrelid = 'public.${table}'::regclass
        and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid and c.conrelid = x.indrelid)
      order by i.relname`,
  );
  // Foreign keys of other tables to this one: PostgreSQL's unique keys on a partitioned table must hold the
  // partition key, so nothing can reference `id` alone any more.
  const referencing = await rows<{ tbl: string; name: string }>(
    tx,
    `select conrelid::regclass::text as tbl, conname as name from pg_constraint
      where confrelid = 'public.${table}'::regclass and conrelid <> confrelid and contype = 'f' and conparentid = 0`,
  );
  for (const r of referencing) await tx.execute(sql.raw(`alter table ${r.tbl} drop constraint ${quote(r.name)}`));

  // The old table leaves under another name, taking its constraint and index names with it when it is dropped.
  const old = `${table}_before_${wanted}`;
  await tx.execute(sql.raw(`alter table ${table} rename to ${old}`));
  await tx.execute(sql.raw(`create table ${table} (like ${old} including defaults including storage) partition by hash (${key})`));
  const parts = Array.from({ length: wanted }, (_, i) => partitionName(table, wanted, i));
  for (const [i, part] of parts.entries()) {
    await tx.execute(sql.raw(`create table ${part} partition of ${table} for values with (modulus ${wanted}, remainder ${i})`));
  }
  // Copied before the indexes exist: building them afterwards is several times faster than keeping them up row by row.
  const [{ n }] = (await rows<{ n: number }>(
    tx,
    `with moved as (insert into ${table} select * from ${old} returning 1) select count(*)::int as n from moved`,
  )) as [{ n: number }];
  await tx.execute(sql.raw(`drop table ${old}`));

  for (const c of constraints) {
    await tx.execute(sql.raw(`alter table ${table} add constraint ${quote(c.name)} ${c.type === 'p' ? withKey(c.def, key) : c.def}`));
  }
  // Each partition's index is made first under its parent's name plus the partition's suffix, then the parent's index
  // adopts them: a unique violation names the partition's index, which isUniqueViolation maps back by that suffix.
  for (const i of indexes) {
    const def = INDEX_DEF.exec(i.def);
    if (!def) throw new Error(`unexpected index definition: ${i.def}`);
    const [, create, name, , given] = def as unknown as [string, string, string, string, string];
    const rest = i.partOptions && !/ WITH \(/.test(given) ? withOptions(given, i.partOptions) : given;
    for (const [p, part] of parts.entries()) {
      await tx.execute(sql.raw(`${create}${partitionName(name, wanted, p)} ON public.${part}${rest}`));
    }
    await tx.execute(sql.raw(`${create}${name} ON public.${table}${rest}`));
  }
  await tx.execute(sql.raw(`analyze ${table}`));
  log(`${table}: ${current === 1 ? 'one table' : `${current} partitions`} → ${wanted} partitions, ${n} rows, ${Date.now() - t0} ms`);
}

/** A primary key with the partition key added when it lacks it: `PRIMARY KEY (id)` → `PRIMARY KEY (id, room_id)`. */
function withKey(def: string, key: string): string {
  const m = /^PRIMARY KEY \((.*)\)$/i.exec(def);
  if (!m) throw new Error(`unexpected primary key: ${def}`);
  const columns = m[1]!.split(',').map((c) => c.trim());
  return columns.includes(key) ? def : `PRIMARY KEY (${[...columns, key].join(', ')})`;
}

/** ` USING gin (c) WHERE …` with `WITH (options)` where PostgreSQL's grammar has it: before the predicate. */
function withOptions(rest: string, options: string): string {
  const where = rest.indexOf(' WHERE ');
  return where < 0 ? `${rest} WITH (${options})` : `${rest.slice(0, where)} WITH (${options})${rest.slice(where)}`;
}

// `ON ONLY` is how a partitioned parent's index reads (made without recursing); the new one is made whole.
const INDEX_DEF = /^(CREATE (?:UNIQUE )?INDEX )(\S+) ON (?:ONLY )?(\S+)( USING .*)$/s;

/** Partition i of n of a table, or of an index: `chat_message_p16_03`. */
export function partitionName(parent: string, n: number, i: number): string {
  return `${parent}_p${n}_${String(i).padStart(String(n - 1).length, '0')}`;
}

/** The index (or table) a partition's belongs to, by the suffix partitionName gives; other names as they are. */
export const partitionParent = (name: string): string => name.replace(/_p\d+_\d+$/, '');

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
