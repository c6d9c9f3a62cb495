/**
 * `npx tsx bench/probes/retention.ts [--engine=embedded|postgres] [--variants=50/10,200/50] [--rounds=2] [--messages=50000]
 *   [--rate=100] [--before=10]`
 *
 * What retention (`RETENTION_DAYS`) costs live sends while it works through a backlog, per `RETENTION_BATCH_SIZE`.
 * The service is built in this process on a database of its own (bench/lib/probe-app.ts); `messages` messages a year
 * old are seeded into 10 rooms of 2, and an open-loop load sends `rate` messages/s over 10 other rooms of 10 through
 * MessagesService.send (no HTTP, no sockets: what is timed is the send's way through the group-commit writer and the
 * database, from the moment each send was due). After `before` seconds, retention starts with the variant's batch size
 * and least pause (`RETENTION_BATCH_SIZE`/`RETENTION_PAUSE_MS`), and the load goes on until every old message is a
 * tombstone. Variants are interleaved over the rounds.
 *
 * The fan-out bench's erase row measures the same kind of background batch delete (the user's erase, ERASE_BATCH_SIZE)
 * end to end; retention has no scenario there because it starts with the service and would run under every other one.
 */
import { performance } from 'node:perf_hooks';
import { sql } from 'drizzle-orm';
import { causeChain } from '../../src/errors.js';
import { Retention } from '../../src/admin/retention.js';
import { ROOM_TYPES, type RetentionConfig } from '../../src/config/retention.js';
import { anyOf, queryRows } from '../../src/db/client.js';
import { sleep } from '../lib/log.js';
import { authOf, databaseCpuMs, interleaved, makeRooms, probeApp, probeEngine, probeOption as opt } from '../lib/probe-app.js';

const OLD_ROOMS = 10;
const LOAD_ROOMS = 10;
const TIMEOUT_MS = 300_000;

const base = probeEngine();
const variants = opt('variants', '50/10,200/50')
  .split(',')
  .map((v) => {
    const [size, pause] = v.split('/').map(Number);
    if (!size || pause === undefined || !Number.isFinite(pause)) throw new Error(`--variants: batch size/least pause in ms, not ${v}`);
    return { name: v, size, pause };
  });
const rounds = Number(opt('rounds', '2'));
const messages = Number(opt('messages', '50000'));
const rate = Number(opt('rate', '100'));
const beforeS = Number(opt('before', '10'));
await interleaved(
  variants,
  rounds,
  (v) => `${v.name} ms`,
  (v) => measure(v.size, v.pause),
  {
    head: `| batch size / least pause | ${messages.toLocaleString('en')} old messages under ${rate} sends/s (each round) |`,
    joiner: '<br>',
  },
);

async function measure(batchSize: number, pauseMs: number): Promise<string> {
  const { app, dataDir, close } = await probeApp(base);
  try {
    const db = app.database.db;
    const load = await makeRooms(app, LOAD_ROOMS, 10, 'load');
    const old = await makeRooms(app, OLD_ROOMS, 2, 'old');
    const perRoom = Math.ceil(messages / OLD_ROOMS);
    for (const room of old) {
      await db.execute(
        sql`insert into chat_message (id, room_id, seq, change_seq, base_change_seq, sender_id, type, content, created_at, search_doc)
            select gen_random_uuid(), ${room.id}, s, s, s, case when s % 2 = 0 then ${room.members[0]!} else ${room.members[1]!} end, 'text', 'an old message ' || s,
              now() - interval '400 days' + s * interval '1 second', to_tsvector('simple', 'an old message ' || s)
            from generate_series(1, ${perRoom}::int) s`,
      );
      await db.execute(sql`update chat_room set last_seq = ${perRoom}, last_change_seq = ${perRoom} where id = ${room.id}`);
    }
    await db.execute(sql`vacuum analyze chat_message`);

    // Open loop: each send has a due time; its latency counts from then, so a stall shows in every send it delays.
    const latencies: Record<'before' | 'during', number[]> = { before: [], during: [] };
    let phase: keyof typeof latencies | undefined;
    let stopped = false;
    let errors = 0;
    const inFlight = new Set<Promise<void>>();
    const sender = (async () => {
      const t0 = performance.now();
      for (let i = 0; !stopped; i++) {
        const due = t0 + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const room = load[i % LOAD_ROOMS]!;
        const counted = phase;
        const p = app.services.messages
          .send(authOf(room.members[i % 10]!, 'user'), room.id, { content: `load ${i} hello there` })
          .then(
            () => void (counted && latencies[counted].push(performance.now() - due)),
            () => void errors++,
          )
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
    })();
    await sleep(2000);
    phase = 'before';
    await sleep(beforeS * 1000);

    const days = Object.fromEntries(ROOM_TYPES.map((t) => [t, 30])) as RetentionConfig['days'];
    const retention = new Retention(db, app.services.changes, { days, intervalMs: 200, batchSize, pauseMs });
    const cpu0 = process.cpuUsage();
    const db0 = base ? null : databaseCpuMs(dataDir);
    const began = performance.now();
    phase = 'during';
    retention.start({
      error: (obj: { err?: unknown }, msg: string) =>
        void process.stderr.write(`${msg}: ${String(causeChain(obj.err).at(-1)?.message ?? obj.err)}\n`),
    });
    const total = perRoom * OLD_ROOMS;
    let done = 0;
    while (done < total && performance.now() - began < TIMEOUT_MS) {
      await sleep(250);
      const [row] = await queryRows<{ n: string }>(
        db,
        sql`select coalesce(sum(retained_through_seq), 0) as n from chat_room where id = ${anyOf(
          old.map((r) => r.id),
          'uuid',
        )}`,
      );
      done = Number(row!.n);
    }
    const tookMs = performance.now() - began;
    phase = undefined;
    const cpu = process.cpuUsage(cpu0);
    const db1 = base ? null : databaseCpuMs(dataDir);
    await retention.stop();
    stopped = true;
    await sender;
    await Promise.all(inFlight);

    const per = (ms: number) => `${Math.round((ms * 1000) / Math.max(done, 1))} µs`;
    const cost = `CPU a tombstone: process ${per((cpu.user + cpu.system) / 1000)}${db0 !== null && db1 !== null ? `, database ${per(db1 - db0)}` : ''}`;
    return (
      `${done.toLocaleString('en')} of ${total.toLocaleString('en')} tombstoned in ${(tookMs / 1000).toFixed(1)} s; ` +
      `sends p50 / p99 before ${pp(latencies.before)}, during ${pp(latencies.during)} (${latencies.during.length} sends, ${errors} errors); ${cost}`
    );
  } finally {
    await close();
  }
}

function pp(values: number[]): string {
  if (!values.length) return '–';
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `${at(0.5).toFixed(1)} / ${at(0.99).toFixed(1)} ms`;
}
