/**
 * `npx tsx bench/probes/event-log.ts [--engine=embedded|postgres] [--variants=none,push,log,drain,cursor,webhook] [--rounds=2]
 *   [--seconds=6] [--senders=64]`
 *
 * What the durable event log costs the send path at saturation, one part at a time. The service is built in this
 * process (as main.ts builds it) on a fresh DATA_DIR with the embedded PostgreSQL server (the default), or on a fresh
 * database of the server at BENCH_DATABASE_URL (or TEST_DATABASE_URL) with `--engine=postgres`, and `senders` loops call MessagesService.send back to back over 50 rooms of 10: no HTTP, no
 * sockets, so what is timed is the group-commit writers and the database under them (closed loop: each loop sends its
 * next message once the last one is answered). Variants, interleaved over the rounds:
 *
 * - `none`: no consumer registered, so a send writes no event at all;
 * - `push`: the notifications with Web Push on (development keys, as `npm start` runs) and nobody subscribed;
 * - `log`: a consumer registered that nothing reads: each send also writes its event and a pending row;
 * - `drain`: `log`, and a loop deleting the pending rows 200 at a time (what a consumer's take does, without work);
 * - `drain-from`: `drain`, but each look starts past the highest id the last one deleted (it walks no dead rows; a
 *   consumer would also need an occasional look from the start, for ids that commit late);
 * - `cursor`: `log`, and a loop following the log by position (a cursor row moved per batch), deleting nothing;
 * - `webhook`: a real webhook for `*` to a receiver in a child process (the consumer, the deliveries, the POSTs).
 *
 * The fan-out bench (`--only=webhooks`) cannot tell 5 % apart: its ramp steps are √2 apart. This probe can, and it
 * names the part that costs (docs/webhooks.md, "What a webhook costs a send").
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { App } from '../../src/app.js';
import type { AuthContext } from '../../src/auth/tokens.js';
import { authOf, databaseCpuMs, interleaved, makeRooms, probeApp, probeEngine, probeOption as opt } from '../lib/probe-app.js';

const VARIANTS = ['none', 'push', 'log', 'drain', 'drain-from', 'cursor', 'webhook'] as const;
type Variant = (typeof VARIANTS)[number];
const ROOMS = 50;
const MEMBERS = 10;

if (process.argv[2] === 'receiver') receiver();
else await main();

/** The webhook's receiver, in a process of its own: answers 204 and reports how many it took. */
function receiver(): void {
  let n = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      n++;
      res.statusCode = 204;
      res.end();
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  setInterval(() => process.send?.({ received: n }), 200);
}

async function main(): Promise<void> {
  const base = probeEngine();
  const variants = opt('variants', VARIANTS.join(',')).split(',') as Variant[];
  for (const v of variants) if (!VARIANTS.includes(v)) throw new Error(`unknown variant ${v}; one of ${VARIANTS.join(', ')}`);
  const rounds = Number(opt('rounds', '2'));
  const seconds = Number(opt('seconds', '6'));
  const senders = Number(opt('senders', '64'));
  await interleaved(
    variants,
    rounds,
    (v) => v,
    (v) => measure(base, v, seconds, senders),
    {
      head: '| variant | sends/s, event-loop utilisation (each round) |',
    },
  );
}

/**
 * One variant on a database of its own (a fresh DATA_DIR's embedded server, or a database created on `base`): setup,
 * 2 s of warm-up, then `seconds` timed.
 */
async function measure(base: string | undefined, variant: Variant, seconds: number, senders: number): Promise<string> {
  const { app, dataDir, connection, stops, close } = await probeApp(base, {
    // Development generates Web Push keys (the notifications consumer runs); production without them has none.
    ...(variant === 'push' ? { NODE_ENV: 'development' } : {}),
    WEBHOOK_ALLOW_PRIVATE_URLS: '1',
  });
  try {
    const rooms = await makeRooms(app, ROOMS, MEMBERS);
    const received = await prepare(app, connection, variant, stops);

    const auths = new Map<string, AuthContext>();
    const auth = (userId: string) => {
      let a = auths.get(userId);
      if (!a) auths.set(userId, (a = authOf(userId, 'user')));
      return a;
    };
    let sent = 0;
    const load = async (ms: number, count: boolean) => {
      const end = performance.now() + ms;
      await Promise.all(
        Array.from({ length: senders }, async (_, w) => {
          for (let i = 0; performance.now() < end; i++) {
            const room = rooms[(w + i) % rooms.length]!;
            await app.services.messages.send(auth(room.members[i % MEMBERS]!), room.id, { content: `probe ${w} ${i} hello there` });
            if (count) sent++;
          }
        }),
      );
    };
    await load(2000, false);
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const db0 = base ? null : databaseCpuMs(dataDir);
    const t0 = performance.now();
    const got0 = received();
    await load(seconds * 1000, true);
    const dt = (performance.now() - t0) / 1000;
    const elu = performance.eventLoopUtilization(elu0).utilization;
    const cpu = process.cpuUsage(cpu0);
    const db1 = base ? null : databaseCpuMs(dataDir);
    const posts = variant === 'webhook' ? `, ${Math.round((received() - got0) / dt)} POSTs/s` : '';
    // CPU per send varies less with the machine's load than sends/s do: what each part costs, not how fast it went.
    const perSend = (ms: number) => `${Math.round((ms * 1000) / sent)} µs`;
    const costs = `; CPU a send: service ${perSend((cpu.user + cpu.system) / 1000)}${db0 !== null && db1 !== null ? `, database ${perSend(db1 - db0)}` : ''}`;
    return `${Math.round(sent / dt)}/s, ELU ${elu.toFixed(2)}${posts}${costs}`;
  } finally {
    await close();
  }
}

/** Sets the variant up; returns how many webhook POSTs the receiver has taken so far (0 for the others). */
async function prepare(
  app: App,
  connection: pg.ClientConfig,
  variant: Variant,
  stops: Array<() => Promise<unknown> | void>,
): Promise<() => number> {
  if (variant === 'none' || variant === 'push') return () => 0;
  if (variant === 'webhook') {
    let received = 0;
    const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['receiver'], { execArgv: ['--import', 'tsx'] });
    stops.push(() => void child.kill());
    const port = await new Promise<number>((resolve) =>
      child.on('message', (m: { port?: number; received?: number }) => {
        if (m.port) resolve(m.port);
        if (m.received !== undefined) received = m.received;
      }),
    );
    await app.services.webhooks.service.create(authOf('probe-admin', 'admin'), { url: `http://127.0.0.1:${port}/hook`, events: ['*'] });
    // Every instance notices a new webhook within a second (webhooks/index.ts).
    await new Promise((r) => setTimeout(r, 1500));
    return () => received;
  }
  const client = new pg.Client(connection);
  await client.connect();
  client.on('error', () => {});
  await client.query(`insert into domain_event_consumer (name, types) values ('probe', '{message.created}')`);
  let stopped = false;
  let loop: Promise<void> = Promise.resolve();
  if (variant === 'drain')
    loop = follow(
      () => stopped,
      async () => {
        const r = await client.query(
          `delete from domain_event_pending where consumer = 'probe' and event_id in (
           select event_id from domain_event_pending where consumer = 'probe' order by event_id limit 200 for update skip locked)`,
        );
        return r.rowCount ?? 0;
      },
    );
  if (variant === 'drain-from') {
    let from = 0;
    loop = follow(
      () => stopped,
      async () => {
        const r = await client.query<{ event_id: string }>(
          `delete from domain_event_pending where consumer = 'probe' and event_id in (
           select event_id from domain_event_pending where consumer = 'probe' and event_id >= $1
           order by event_id limit 200 for update skip locked) returning event_id`,
          [from],
        );
        if (r.rows.length) from = Math.max(from, ...r.rows.map((x) => Number(x.event_id)));
        return r.rows.length;
      },
    );
  }
  if (variant === 'cursor') {
    await client.query(`create table probe_cursor (name text primary key, pos bigint not null)`);
    await client.query(`insert into probe_cursor values ('probe', 0)`);
    let pos = 0;
    loop = follow(
      () => stopped,
      async () => {
        await client.query('begin');
        const r = await client.query<{ id: string }>(`select id from domain_event where id > $1 order by id limit 200`, [pos]);
        if (r.rows.length) {
          pos = Number(r.rows.at(-1)!.id);
          await client.query(`update probe_cursor set pos = $1 where name = 'probe'`, [pos]);
        }
        await client.query('commit');
        return r.rows.length;
      },
    );
  }
  stops.push(async () => {
    stopped = true;
    await loop.catch(() => {});
    await client.end();
  });
  return () => 0;
}

/** Runs `batch` back to back while it finds work, resting 50 ms when it finds none, until stopped. */
async function follow(stopped: () => boolean, batch: () => Promise<number>): Promise<void> {
  while (!stopped()) if ((await batch()) === 0) await new Promise((r) => setTimeout(r, 50));
}
