/**
 * `npx tsx bench/probes/send-tail.ts [--engine=embedded|postgres] [--variants=fastupdate,pending-64,off] [--rounds=2]
 *   [--rate=1000] [--seconds=20]`
 *
 * Where a send's tail comes from when nothing else runs: the service built in this process (bench/lib/probe-app.ts),
 * sends called at a fixed rate (open loop, spread over 50 rooms of 10; no sockets), and each send's time from its due
 * moment to its answer. What it was written for: the two GIN indexes of `chat_message` (search words and trigrams)
 * take new entries into a pending list and move them into the index when the list outgrows `gin_pending_list_limit`
 * (4 MB by default), inside whichever insert overflows it. At 1,000 sends/s that is one send statement of 50–170 ms
 * every ~3 s, and every send queued behind it waits too: more than the fan-out's 20 ms p99 allows on its own.
 * Variants, interleaved over the rounds, set both indexes before the timed part:
 *
 * - `fastupdate`: the list as PostgreSQL makes it, 4 MB;
 * - `pending-N`: a list of N kB (migration 0016 sets 64, the smallest PostgreSQL takes), moved in smaller pieces, more often;
 * - `off`: no list; every insert goes into the index trees.
 *
 * Reported per variant: sends/s, p50 / p99 / max of a send, how many sends took over 50 ms, and the CPU a send cost
 * the service and (embedded) its database, which says what each variant costs whatever the machine's hour.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { openLoop } from '../lib/clients.js';
import { Latency } from '../lib/histogram.js';
import { authOf, databaseCpuMs, interleaved, makeRooms, probeApp, probeEngine, probeOption as opt } from '../lib/probe-app.js';

const ROOMS = 50;
const MEMBERS = 10;
const INDEXES = ['chat_message_search_idx', 'chat_message_content_trgm_idx'];
const FILLER = 'the quick brown fox jumps over the lazy dog while the team reviews the release notes';

const base = probeEngine();
const variants = opt('variants', 'fastupdate,pending-64,off').split(',');
for (const v of variants)
  if (!/^(fastupdate|off|pending-\d+)$/.test(v)) throw new Error(`unknown variant ${v}: fastupdate, off or pending-<kB>`);
const rounds = Number(opt('rounds', '2'));
const rate = Number(opt('rate', '1000'));
const seconds = Number(opt('seconds', '20'));

await interleaved(variants, rounds, (v) => v, measure, {
  head: `| variant | ${rate} sends/s for ${seconds} s: achieved, p50 / p99 / max, sends > 50 ms, CPU a send (each round) |`,
});

async function measure(variant: string): Promise<string> {
  const { app, dataDir, connection, close } = await probeApp(base);
  try {
    const rooms = await makeRooms(app, ROOMS, MEMBERS);
    const client = new pg.Client(connection);
    await client.connect();
    const storage =
      variant === 'off'
        ? 'fastupdate = off'
        : variant === 'fastupdate'
          ? 'fastupdate = on, gin_pending_list_limit = 4096'
          : `fastupdate = on, gin_pending_list_limit = ${variant.slice('pending-'.length)}`;
    for (const index of INDEXES) await client.query(`alter index ${index} set (${storage})`);
    await client.end();

    // Open loop (bench/lib/clients.ts): each send is timed from when it was due, so a stall counts in every send it delays.
    const times = new Latency();
    let slow = 0;
    const run = async (ms: number, keep: boolean) => {
      const answers: Array<Promise<void>> = [];
      await openLoop(rate, ms, (n, due) => {
        const room = rooms[n % ROOMS]!;
        const sender = authOf(room.members[Math.floor(n / ROOMS) % MEMBERS]!, 'user');
        answers.push(
          app.services.messages.send(sender, room.id, { content: `probe ${n} ${FILLER}` }).then(() => {
            if (!keep) return;
            const took = performance.now() - due;
            times.record(took);
            if (took > 50) slow++;
          }),
        );
      });
      await Promise.all(answers);
    };
    await run(2000, false);
    const cpu0 = process.cpuUsage();
    const db0 = base ? null : databaseCpuMs(dataDir);
    const t0 = performance.now();
    await run(seconds * 1000, true);
    const dt = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const db1 = base ? null : databaseCpuMs(dataDir);
    const { count, p50, p99, max } = times.summary();
    const perSend = (ms: number) => `${Math.round((ms * 1000) / count)} µs`;
    const costs = `service ${perSend((cpu.user + cpu.system) / 1000)}${db0 !== null && db1 !== null ? `, database ${perSend(db1 - db0)}` : ''}`;
    return `${Math.round(count / dt)}/s, ${p50.toFixed(1)} / ${p99.toFixed(1)} / ${max.toFixed(1)} ms, ${slow} > 50 ms; ${costs}`;
  } finally {
    await close();
  }
}
