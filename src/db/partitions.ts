import { sql } from 'drizzle-orm';
import type { Executor } from './client.js';

/**
 * DATABASE_PARTITIONS: chat_message hash-partitioned by room_id. Every query of the service names the room of the
 * messages it reads (history, search in a room, changes, unread counts), so each touches one partition's indexes, which
 * stay a fraction of the size; a message looked up by id alone probes every partition's primary key.
 *
 * The migrations make the one plain table; this reshapes it afterwards, generically (its constraints and indexes are
 * read from the catalogue and made again on the new parent), so a later migration that adds a column or an index to
 * chat_message applies to either shape. Two things differ on a partitioned table, because PostgreSQL's unique
 * constraints on it must contain the partition key:
 * - the primary key is (id, room_id): id stays first, so a lookup by id alone is one index probe per partition;
 * - no other table's foreign key can reference chat_message(id). Those keys (edits, reactions, media, reports, sent
 *   notifications) are dropped. What they guarded still holds: the service never deletes a message row (deletes,
 *   purges, erasure and retention leave tombstones), and every write of a dependent row reads or locks its message in
 *   the same transaction.
 */

export const MESSAGE_TABLE = 'chat_message';

export class PartitionsMismatch extends Error {
  override readonly name = 'PartitionsMismatch';
}

type Row = Record<string, unknown>;

async function rows<T extends Row>(db: Executor, query: string): Promise<T[]> {
  const result = (await db.execute(sql.raw(query))) as unknown as { rows: T[] };
  return result.rows;
}

/** 1 for the plain table, else the number of hash partitions chat_message has. */
export async function messagePartitions(db: Executor): Promise<number> {
  const [shape] = await rows<{ kind: string; parts: number }>(
    db,
    `select c.relkind::text as kind, (select count(*)::int from pg_inherits i where i.inhparent = c.oid) as parts
       from pg_class c where c.oid = 'public.${MESSAGE_TABLE}'::regclass`,
  );
  return shape!.kind === 'p' ? shape!.parts : 1;
}

export interface PartitionOptions {
  /** Copy the messages of a database that has some (the service stopped); otherwise only an empty table is reshaped. */
  repartition?: boolean;
  log?: (message: string) => void;
}

/**
 * Makes chat_message have `wanted` partitions, or says why not. An empty table (a new install) is reshaped at once; one
 * holding messages only with `repartition` (`npm run migrate -- --repartition`), which copies every message in one
 * transaction while the table is locked. Going back to one plain table is refused: the foreign keys dropped on the way
 * are not made again.
 */
export async function ensureMessagePartitions(db: Executor, wanted: number, opts: PartitionOptions = {}): Promise<void> {
  const current = await messagePartitions(db);
  if (current === wanted) return;
  if (wanted === 1) {
    throw new PartitionsMismatch(
      `DATABASE_PARTITIONS=1 but chat_message has ${current} partitions; set DATABASE_PARTITIONS=${current} ` +
        '(a partitioned table is not turned back into one table: dump and restore into a new install instead)',
    );
  }
  const [{ any }] = (await rows<{ any: boolean }>(db, `select exists (select 1 from ${MESSAGE_TABLE}) as any`)) as [{ any: boolean }];
  if (any && !opts.repartition) {
    throw new PartitionsMismatch(
      `DATABASE_PARTITIONS=${wanted} but chat_message has ${current === 1 ? 'no partitions' : `${current} partitions`} and holds ` +
        `messages; stop every instance and run \`DATABASE_PARTITIONS=${wanted} npm run migrate -- --repartition\` once ` +
        '(it copies every message; see docs/deploy.md#partitioned-messages), or start with the old value',
    );
  }
  await db.transaction(async (tx) => {
    await reshape(tx, current, wanted, opts.log ?? (() => {}));
  });
}

interface ConstraintDef {
  name: string;
  type: string;
  def: string;
}

async function reshape(tx: Executor, current: number, wanted: number, log: (m: string) => void): Promise<void> {
  const t0 = Date.now();
  await tx.execute(sql.raw(`lock table ${MESSAGE_TABLE} in access exclusive mode`));
  // Top-level definitions only (conparentid = 0): on a partitioned table each one has a clone per partition.
  // Read before anything moves: the definitions name chat_message, which is the new table by the time they run again.
  const constraints = await rows<ConstraintDef & Row>(
    tx,
    `select conname as name, contype::text as type, pg_get_constraintdef(oid) as def
       from pg_constraint where conrelid = 'public.${MESSAGE_TABLE}'::regclass and contype in ('p', 'u', 'f', 'c')
        and conparentid = 0
      order by case contype when 'p' then 0 when 'u' then 1 when 'c' then 2 else 3 end, conname`,
  );
  const indexes = await rows<{ name: string; def: string }>(
    tx,
    `select i.relname as name, pg_get_indexdef(x.indexrelid) as def
       from pg_index x join pg_class i on i.oid = x.indexrelid
      where x.indrelid = 'public.${MESSAGE_TABLE}'::regclass
        and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid and c.conrelid = x.indrelid)
      order by i.relname`,
  );
  const referencing = await rows<{ tbl: string; name: string }>(
    tx,
    `select conrelid::regclass::text as tbl, conname as name from pg_constraint
      where confrelid = 'public.${MESSAGE_TABLE}'::regclass and conrelid <> confrelid and contype = 'f' and conparentid = 0`,
  );
  for (const r of referencing) await tx.execute(sql.raw(`alter table ${r.tbl} drop constraint ${quote(r.name)}`));

  // The old table leaves under another name, taking its constraint and index names with it when it is dropped.
  const old = `${MESSAGE_TABLE}_before_${wanted}`;
  await tx.execute(sql.raw(`alter table ${MESSAGE_TABLE} rename to ${old}`));
  await tx.execute(sql.raw(`create table ${MESSAGE_TABLE} (like ${old} including defaults including storage) partition by hash (room_id)`));
  const parts = Array.from({ length: wanted }, (_, i) => partitionName(MESSAGE_TABLE, wanted, i));
  for (const [i, part] of parts.entries()) {
    await tx.execute(sql.raw(`create table ${part} partition of ${MESSAGE_TABLE} for values with (modulus ${wanted}, remainder ${i})`));
  }
  // Copied before the indexes exist: building them afterwards is several times faster than keeping them up row by row.
  const [{ n }] = (await rows<{ n: number }>(
    tx,
    `with moved as (insert into ${MESSAGE_TABLE} select * from ${old} returning 1) select count(*)::int as n from moved`,
  )) as [{ n: number }];
  await tx.execute(sql.raw(`drop table ${old}`));

  for (const c of constraints) {
    const def = c.type === 'p' ? 'primary key (id, room_id)' : c.def;
    await tx.execute(sql.raw(`alter table ${MESSAGE_TABLE} add constraint ${quote(c.name)} ${def}`));
  }
  // Each partition's index is made first under its parent's name plus the partition's suffix, then the parent's index
  // adopts them: a unique violation names the partition's index, which isUniqueViolation maps back by that suffix.
  for (const i of indexes) {
    const def = INDEX_DEF.exec(i.def);
    if (!def) throw new Error(`unexpected index definition: ${i.def}`);
    const [, create, name, , rest] = def as unknown as [string, string, string, string, string];
    for (const [p, part] of parts.entries()) {
      await tx.execute(sql.raw(`${create}${partitionName(name, wanted, p)} ON public.${part}${rest}`));
    }
    await tx.execute(sql.raw(`${create}${name} ON public.${MESSAGE_TABLE}${rest}`));
  }
  await tx.execute(sql.raw(`analyze ${MESSAGE_TABLE}`));
  log(
    `chat_message: ${current === 1 ? 'one table' : `${current} partitions`} → ${wanted} partitions, ${n} messages, ${Date.now() - t0} ms`,
  );
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
