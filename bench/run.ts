/**
 * `npm run bench [-- --quick] [-- --only=idle,fanout,dataset,changes,reconnect,sdk,web,webhooks,erase,startup,cluster,scaling]
 *  [-- --engines=embedded,pglite,postgres] [-- --profile] [-- --no-readme]`
 *
 * Measures the service, run in its own process from src/main.ts, against baselines run beside it in the same run on
 * the same machine, prints progress and the table, and writes bench/results/<date>.json and .md; a full run (every
 * scenario and engine, not --quick) also writes latest.md and puts the table in docs/benchmarks.md. Both embedded
 * engines run (the managed PostgreSQL server, the default, and PGlite); an external PostgreSQL too when
 * BENCH_DATABASE_URL (or TEST_DATABASE_URL) is set, and a two-instance + Redis row when BENCH_REDIS_URL (or
 * TEST_REDIS_URL) is set as well. See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { mintToken } from '../src/auth/tokens.js';
import { createBenchDatabase, dropAll, ENGINE_LABELS, isEmbedded, selectEngines, withFreshDataDir, type Engine } from './lib/database.js';
import { log, sleep } from './lib/log.js';
import {
  pinning,
  pinSelf,
  ROOT,
  settle,
  spawnServer,
  stopAll,
  unpinEmbeddedServer,
  waitHealthy,
  withAllCores,
  type ServerProcess,
} from './lib/processes.js';
import { summariseProfile } from './lib/profile.js';
import { buildRows, markdown, updateBenchPage, type BenchResult, type EngineResult } from './lib/report.js';
import { planData, seedAll, type Manifest, type RoomPlan, type Sizes } from './lib/seed.js';
import { changesCatchUp } from './scenarios/catch-up.js';
import { planChanges, rawChanges, restChanges, type ChangesPlan } from './scenarios/changes.js';
import { planDataset, rawDataset, rawInserts, restDataset, type DatasetSide } from './scenarios/dataset.js';
import { scaling } from './scenarios/scaling.js';
import { FanoutRig, ramp, warm, type FanoutTarget, type RampOptions, type RampResult } from './scenarios/fanout.js';
import { idleSockets } from './scenarios/idle.js';
import { bareReconnectStorm, reconnectStorm } from './scenarios/reconnect.js';
import { planSdk, sdkConvergence, sdkHeap, type SdkSizes } from './scenarios/sdk.js';
import { planWeb, webApp, webBundle, type WebSizes } from './scenarios/web.js';
import { compiledStartToReady, npmStartToReady, startToReady, startupPhases } from './scenarios/startup.js';
import { webhooksUnderLoad, type WebhooksOptions } from './scenarios/webhooks.js';
import { eraseUnderLoad, planErase, type EraseSizes } from './scenarios/erase.js';
import { startClusterTopology } from './lib/topology.js';

const SCENARIOS = [
  'idle',
  'fanout',
  'dataset',
  'changes',
  'reconnect',
  'sdk',
  'web',
  'webhooks',
  'erase',
  'startup',
  'cluster',
  'scaling',
] as const;
type Scenario = (typeof SCENARIOS)[number];

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
if (flag('help')) {
  process.stdout.write(
    'npm run bench [-- --quick] [--only=idle,fanout,dataset,changes,reconnect,sdk,web,webhooks,erase,startup,cluster,scaling] [--engines=embedded,pglite,postgres] [--profile] [--no-readme]\n' +
      '  [--messages=N] (history of the dataset and changes scenarios; default 1,000,000) [--partitions=N] (PostgreSQL: DATABASE_PARTITIONS)\n' +
      '  [--topology=cluster] (PostgreSQL: the scaling rows on a Redis Cluster and a primary with a streaming replica, started here)\n' +
      'npm run bench -- --render=bench/results/<date>.json   (rebuild the table of an earlier run)\n' +
      'BENCH_DATABASE_URL / TEST_DATABASE_URL: also run on PostgreSQL; BENCH_REDIS_URL / TEST_REDIS_URL: add the two-instance row.\n',
  );
  process.exit(0);
}
const quick = flag('quick');
// Quick runs leave out the two-instance row (two more servers to start) unless --only names it.
const only = new Set<Scenario>(
  (opt('only')?.split(',') ?? SCENARIOS.filter((s) => !(quick && (s === 'cluster' || s === 'scaling')))) as Scenario[],
);
for (const s of only) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}; one of ${SCENARIOS.join(', ')}`);

const pgUrl = process.env['BENCH_DATABASE_URL'] || process.env['TEST_DATABASE_URL'] || undefined;
const redisUrl = process.env['BENCH_REDIS_URL'] || process.env['TEST_REDIS_URL'] || undefined;
const engines = selectEngines(opt('engines'), pgUrl);

/** Load goes to this machine only: refuse a database or Redis anywhere else. */
function loopbackOnly(name: string, url: string | undefined): void {
  if (!url) return;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (!/^(127\.\d+\.\d+\.\d+|localhost|::1)$/.test(host)) throw new Error(`${name} must point at this machine (127.0.0.1), not ${host}`);
}
loopbackOnly('BENCH_DATABASE_URL', pgUrl);
loopbackOnly('BENCH_REDIS_URL', redisUrl);
if (engines.includes('postgres') && !pgUrl) throw new Error('--engines=postgres needs BENCH_DATABASE_URL or TEST_DATABASE_URL');

/** DATABASE_PARTITIONS for the PostgreSQL runs (docs/scaling.md: history and search at 10M, 1 vs 16). */
const PARTITIONS = Number(opt('partitions') ?? 1);
if (!Number.isInteger(PARTITIONS) || PARTITIONS < 1) throw new Error('--partitions must be a whole number ≥ 1');
if (opt('messages') !== undefined && !(Number(opt('messages')) >= 1000)) throw new Error('--messages must be a number ≥ 1000');

/** `cluster`: the PostgreSQL engine runs on a primary + replica, and the scaling rows on a Redis Cluster (lib/topology.ts). */
const TOPOLOGY = opt('topology') ?? 'single';
if (TOPOLOGY !== 'single' && TOPOLOGY !== 'cluster') throw new Error('--topology must be single or cluster');

/** The change-log catch-up room: 1,000 clients (quick: 100) besides its owner, each catching up on the same 1,000 changes. */
const CATCH_UP = only.has('changes') ? { catchUpClients: quick ? 100 : 1000, catchUpMessages: 1200 } : {};
const SIZES: Sizes = quick
  ? {
      idleSockets: 200,
      fanoutParticipants: 100,
      roomSizes: [2, 10, 100],
      reconnectRooms: 5,
      reconnectRoomSize: 20,
      dataMessages: 50_000,
      dataRooms: 200,
      unreadMessages: 10_000,
      unreadUsers: 60,
      ...CATCH_UP,
    }
  : {
      idleSockets: 10_000,
      fanoutParticipants: 100,
      roomSizes: [2, 10, 100],
      reconnectRooms: 20,
      reconnectRoomSize: 50,
      dataMessages: Number(opt('messages') ?? 1_000_000),
      dataRooms: 2000,
      unreadMessages: 10_000,
      unreadUsers: 400,
      ...CATCH_UP,
    };

/** SDK clients (scenarios/sdk.ts): 200 in 20 rooms cut for 10 s while 1,000 changes happen (quick: 100, 4 s, 500); heap of 50 (20). */
const SDK: SdkSizes = quick
  ? { clients: 100, rooms: 20, messages: 200, cutMs: 4000, changes: 500, timeoutMs: 20_000, heapClients: 20, heapRooms: 10 }
  : { clients: 200, rooms: 20, messages: 200, cutMs: 10_000, changes: 1000, timeoutMs: 30_000, heapClients: 50, heapRooms: 10 };

/** The web app in Chromium (scenarios/web.ts): 10k messages, 2,000 scrolled back, 10 timed first opens (quick: 5; each loads the app). */
const WEB: WebSizes = { messages: 10_000, opens: quick ? 5 : 10, scrollBack: 2000, timeoutMs: 3000, scrollTimeoutMs: 60_000 };

/** Outgoing webhooks (scenarios/webhooks.ts): 1,000 messages/s for 20 s (quick: 4 s) timed to a local receiver. */
const WEBHOOKS = quick ? { rate: 1000, seconds: 4, drainMs: 10_000 } : { rate: 1000, seconds: 20, drainMs: 30_000 };
/** Erase under load (scenarios/erase.ts): a user with 100k messages (quick: 10k) in 10 rooms, erased under 100 sends/s in rooms of 10. */
const ERASE: EraseSizes = quick
  ? { messages: 10_000, rooms: 10, rate: 100, beforeMs: 3000, afterMs: 1000, timeoutMs: 90_000 }
  : { messages: 100_000, rooms: 10, rate: 100, beforeMs: 5000, afterMs: 2000, timeoutMs: 300_000 };

const RAMP: Omit<RampOptions, 'start'> = quick
  ? { factor: 2, seconds: 1, minMessages: 4, drainMs: 1000, maxSteps: 4, maxRate: 20_000, budgetMs: 4_000, refine: false, confirm: false }
  : {
      factor: Math.SQRT2,
      seconds: 2,
      minMessages: 20,
      drainMs: 2000,
      // Enough steps to reach the real maximum from any start: 14 ended the room of 10's climb at 4,019/s on a fast hour
      // (2026-12-07), a pass, under half the bare server's maximum; the climb stops at its first failure anyway.
      maxSteps: 20,
      maxRate: 20_000,
      budgetMs: 90_000,
      refine: true,
      confirm: true,
    };
/** The bare baseline climbs in doubling steps (then refines once in full runs): it goes far higher than the service. */
const BARE_RAMP: Omit<RampOptions, 'start'> = { ...RAMP, factor: 2, maxSteps: quick ? 3 : 8 };
/**
 * First rate of a ramp: about 400 deliveries/s (at least 10 messages/s), whatever the room size; high enough that
 * the climb reaches the service's maximum within the time budget, and stepped down when even that fails.
 */
const startRate = (size: number) => Math.max(10, 400 / Math.max(1, size - 1));

const JWT_SECRET = 'bench-secret-bench-secret-bench-secret-0123456789';
const tokens = new Map<string, Promise<string>>();
const token = (userId: string) => {
  let t = tokens.get(userId);
  if (!t) tokens.set(userId, (t = mintToken(JWT_SECRET, userId, { name: userId, expiresIn: '3h' })));
  return t;
};
/** A platform admin (webhooks, erase jobs). */
const adminToken = () => mintToken(JWT_SECRET, 'bench-admin', { name: 'bench-admin', role: 'admin', expiresIn: '3h' });

const results: BenchResult = {
  date: new Date().toISOString(),
  mode: quick ? 'quick' : 'full',
  seconds: 0,
  machine: {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAvgStart: os.loadavg(),
    loadAvgEnd: [],
    node: process.versions.node,
    pinned: pinning ? `${pinning.server}|${pinning.loadgen}` : null,
  },
  commit: (() => {
    try {
      return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim();
    } catch {
      return null;
    }
  })(),
  // Read-only: GIT_OPTIONAL_LOCKS=0 keeps `git status` from refreshing the index.
  uncommitted: (() => {
    try {
      return execFileSync('git', ['status', '--porcelain', '--', 'src'], {
        cwd: ROOT,
        env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' },
        stdio: ['ignore', 'pipe', 'ignore'],
      })
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.slice(3));
    } catch {
      return [];
    }
  })(),
  sizes: { ...SIZES, ramp: RAMP },
  bare: {},
  engines: [],
  rows: [],
};

const profileDir = flag('profile') ? mkdtempSync(path.join(os.tmpdir(), 'chat-bench-prof-')) : undefined;
const profiles: Array<{ title: string; file: string; sql: Record<string, number>; per?: { n: number; unit: string } | undefined }> = [];

/**
 * With --profile: the V8 CPU profile of the server and the SQL statements it sent, during `fn` only (both started
 * and stopped through the probe); `per` names what the statement counts are divided by (e.g. persisted messages).
 */
async function profiled<T>(
  server: ServerProcess,
  title: string,
  fn: () => Promise<T>,
  per?: (r: T) => { n: number; unit: string },
): Promise<T> {
  if (!profileDir) return fn();
  const file = path.join(profileDir, `${profiles.length}.cpuprofile`);
  await server.sqlStart();
  await server.profileStart();
  let result: T | undefined;
  try {
    return (result = await fn());
  } finally {
    await server.profileStop(file);
    const sql = await server.sqlStop();
    profiles.push({ title, file, sql, per: result === undefined || !per ? undefined : per(result) });
  }
}

function profileText(p: (typeof profiles)[number]): string {
  const lines = [`## ${p.title}`, summariseProfile(path.dirname(p.file), [path.basename(p.file)])];
  const entries = Object.entries(p.sql).sort((a, b) => b[1] - a[1]);
  const total = entries.reduce((a, [, n]) => a + n, 0);
  lines.push(
    `SQL statements: ${total}${p.per ? ` for ${p.per.n} ${p.per.unit} = ${(total / Math.max(1, p.per.n)).toFixed(2)} per ${p.per.unit.replace(/s$/, '')}` : ''}`,
  );
  for (const [q, n] of entries.slice(0, 20))
    lines.push(`  ${String(n).padStart(7)}${p.per ? ` (${(n / Math.max(1, p.per.n)).toFixed(2)})` : ''}  ${q}`);
  return lines.join('\n') + '\n';
}

/**
 * Quick runs shorten the presence grace (a user whose sockets all left is announced offline after it) so that the
 * offline announcements of one scenario's sockets are over before the next scenario starts; full runs keep the default.
 */
const PRESENCE_GRACE_MS = quick ? 1200 : 5000;

function serviceEnv(extra: Record<string, string>): Record<string, string> {
  return {
    JWT_SECRET,
    RATE_LIMIT_WRITES_PER_MINUTE: '1000000',
    RATE_LIMIT_SEARCHES_PER_MINUTE: '1000000',
    RATE_LIMIT_JOINS_PER_MINUTE: '1000000',
    MAX_SOCKETS_PER_USER: '100000',
    LOG_LEVEL: 'warn',
    PRESENCE_GRACE_MS: String(PRESENCE_GRACE_MS),
    // The webhook scenario's receiver listens on 127.0.0.1, a private address webhooks may not reach by default.
    WEBHOOK_ALLOW_PRIVATE_URLS: '1',
    ...extra,
  };
}

/** After sockets left: their offline announcements (after the presence grace) run before anything is measured again. */
async function quiet(server: ServerProcess): Promise<void> {
  await sleep(PRESENCE_GRACE_MS + 1000);
  await settle(server, 15_000);
}

async function startService(name: string, env: Record<string, string>): Promise<ServerProcess & { readyMs: number }> {
  const server = await spawnServer({
    name,
    args: ['src/main.ts'],
    env: serviceEnv(env),
    probe: true,
  });
  const readyMs = await waitHealthy(server);
  if (env['EMBEDDED_ENGINE'] === 'postgres' && env['DATA_DIR']) unpinEmbeddedServer(env['DATA_DIR']);
  log(`  ${name} ready in ${(readyMs / 1000).toFixed(2)} s (pid ${server.pid})`);
  return Object.assign(server, { readyMs });
}

const serviceTarget = (servers: ServerProcess[], size: number): FanoutTarget => ({
  name: servers.length > 1 ? 'two instances' : 'service',
  servers,
  urlFor: (k) => servers[servers.length > 1 && k >= size / 2 ? 1 : 0]!.url,
  auth: async (u) => ({ token: await token(u) }),
});

const bareTarget = (server: ServerProcess): FanoutTarget => ({
  name: 'bare',
  bare: true,
  servers: [server],
  urlFor: () => server.url,
  auth: async (_u, rooms) => ({ rooms }),
});

/**
 * A ramp of the bare server with delivery acks, on a server of its own started for it and stopped after. It starts at
 * half the plain ramp's first rate: the acks cost it about half again per delivery, so `from` would often fail first.
 */
async function bareWithAcks(rooms: RoomPlan[], size: number, from: number): Promise<RampResult> {
  const server = await startBare(true);
  const rig = new FanoutRig(bareTarget(server), rooms);
  try {
    await rig.connect();
    await warm(rig);
    return await ramp(rig, size, 'bare, acks', { ...BARE_RAMP, start: from / 2 }, () => settle(server));
  } finally {
    await rig.close();
    await server.stop();
  }
}

/** `acks`: every recipient acknowledges each message, as the contract asks of the service's clients (ACK=1). */
async function startBare(acks = false): Promise<ServerProcess> {
  const bare = await spawnServer({
    name: acks ? 'bare Socket.IO, delivery acks' : 'bare Socket.IO',
    args: ['bench/baselines/bare-socketio.ts'],
    env: acks ? { ACK: '1' } : {},
    probe: true,
  });
  await waitHealthy(bare);
  return bare;
}

async function guarded(e: EngineResult, what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const msg = `${what} failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
    log(`  ⚠️ ${msg}`);
    if (process.env['BENCH_DEBUG'] && err instanceof Error) log(err.stack ?? '');
    e.failures.push(msg);
  }
}

async function runEngine(engine: Engine, first: boolean): Promise<EngineResult> {
  const label = `${ENGINE_LABELS[engine]}${PARTITIONS > 1 ? ` (${PARTITIONS} partitions)` : ''}`;
  const e: EngineResult = { engine, label, serverErrors: [], failures: [] };
  results.engines.push(e);
  log(`== ${label}`);
  const topology = engine === 'postgres' && TOPOLOGY === 'cluster' ? await withAllCores(startClusterTopology) : undefined;
  if (topology) log(`  topology: ${topology.label}`);
  const db = await createBenchDatabase(engine, topology?.primaryUrl ?? pgUrl, PARTITIONS).catch(async (err: unknown) => {
    await topology?.close();
    throw err;
  });
  // The million rows are for the history/search and message-change scenarios only.
  const m: Manifest = planData(only.has('dataset') || only.has('changes') ? SIZES : { ...SIZES, dataMessages: SIZES.dataRooms });
  const sdkPlan = only.has('sdk') ? planSdk(m, SDK) : undefined;
  const webPlan = only.has('web') ? planWeb(m, WEB) : undefined;
  const erasePlan = only.has('erase') ? planErase(m, ERASE) : undefined;
  let server: ServerProcess | undefined;
  let bare: ServerProcess | undefined;
  try {
    // Prepare with the server stopped: seed, and run the raw-SQL baselines through the driver.
    const raw = await db.open();
    let rawSide: DatasetSide | undefined;
    let changesPlan: ChangesPlan | undefined;
    let rawChangesSide: Awaited<ReturnType<typeof rawChanges>> | undefined;
    const plan = only.has('dataset')
      ? planDataset(
          m,
          quick
            ? { historySamples: 200, historyBudgetMs: 2500, searchSamples: 12, searchBudgetMs: 1200, countSamples: 30 }
            : { historySamples: 1000, historyBudgetMs: 6000, searchSamples: 100, searchBudgetMs: 4000, countSamples: 200 },
        )
      : undefined;
    try {
      const seeded = await seedAll(raw, m, engine);
      e.seed = { ...seeded, messages: m.all.reduce((a, r) => a + r.n, 0), rooms: m.all.length };
      log(`  seeded in ${seeded.seconds.toFixed(1)} s`);
      if (only.has('fanout'))
        await guarded(e, 'raw INSERT baseline', async () => void (e.rawInsert = await rawInserts(raw, m.rawRooms, quick ? 1 : 3)));
      if (only.has('dataset')) {
        await guarded(e, 'raw SQL baselines', async () => {
          rawSide = await rawDataset(raw, m, plan!);
          log(
            `    raw SQL: history p99 ${rawSide.history.p99} ms; search p99 ${Object.entries(rawSide.search)
              .map(([k, v]) => `${k} ${v.p99}`)
              .join(', ')} ms; UPDATE p99 ${rawSide.markAllRead.p99} ms`,
          );
        });
      }
      if (only.has('changes')) {
        await guarded(e, 'change baselines', async () => {
          const o = quick
            ? { samples: 200, warmup: 20, budgetMs: 2500, countOps: 30 }
            : { samples: 1000, warmup: 50, budgetMs: 6000, countOps: 100 };
          changesPlan = await planChanges(raw, m, o);
          rawChangesSide = await rawChanges(raw, changesPlan);
        });
      }
    } finally {
      await raw.close();
    }

    const svc = await startService(`service (${engine})`, db.serverEnv());
    server = svc;
    // The bare Socket.IO baseline needs no database: measured once, in the first engine's run, and shared.
    if (first && (only.has('fanout') || only.has('idle'))) bare = await startBare();

    if (plan && rawSide) {
      // The service builds its remaining validators and serializers for about half a second after it answers (one per
      // turn of the event loop, http/deferred.ts); the start rows time that, these rows the steady state after it.
      await sleep(2000);
      await guarded(e, 'history/search/read state over REST', async () => {
        const rest = await profiled(svc, `${label}: history, search, read state over REST`, () => restDataset(svc.url, token, m, plan));
        e.dataset = { messages: m.data.total, raw: rawSide!, rest, receiptRows: Number.NaN, marks: plan.marks, markedTo: rest.markedTo };
        log(
          `    REST: history p99 ${rest.history.p99} ms; search p99 ${Object.entries(rest.search)
            .map(([k, v]) => `${k} ${v.p99}`)
            .join(', ')} ms; mark read p99 ${rest.markAllRead.p99} ms; rooms p99 ${rest.unreadCounts.p99} ms`,
        );
      });
    }

    if (only.has('fanout')) {
      e.fanout = {};
      // Every room size's sockets stay connected through the fan-out runs (closing them would announce them offline
      // in the middle of the next size's run); they leave together at the end.
      const rigs = new Map<number, FanoutRig>();
      try {
        for (const size of SIZES.roomSizes) {
          const rig = new FanoutRig(serviceTarget([svc], size), m.fanout.get(size)!);
          rigs.set(size, rig);
          await rig.connect();
        }
        await settle(svc);
        for (const size of SIZES.roomSizes) {
          await guarded(e, `fan-out, room of ${size}`, async () => {
            const rig = rigs.get(size)!;
            await warm(rig);
            e.fanout![size] = await profiled(
              svc,
              `${label}: fan-out ramp, room of ${size}`,
              () => ramp(rig, size, 'service', { ...RAMP, start: startRate(size) }, () => settle(svc)),
              (r) => ({ n: r.steps.reduce((a, st) => a + st.sent, 0), unit: 'messages' }),
            );
            await settle(svc);
            if (bare) {
              const brig = new FanoutRig(bareTarget(bare), m.fanout.get(size)!);
              const from = Math.max((quick ? 2000 : 10_000) / (size - 1), 4 * (e.fanout![size]?.max?.rate ?? 0));
              try {
                await brig.connect();
                await warm(brig);
                results.bare.fanout ??= {};
                results.bare.fanout[size] = await ramp(brig, size, 'bare', { ...BARE_RAMP, start: from }, () => settle(bare!));
              } finally {
                await brig.close();
              }
              // The contract's ceiling for rooms of 10 (the row with a target): the same bare server, each delivery acked.
              if (size === 10) {
                results.bare.fanoutAcked ??= {};
                results.bare.fanoutAcked[size] = await bareWithAcks(m.fanout.get(size)!, size, from);
              }
            }
          });
        }
      } finally {
        for (const rig of rigs.values()) await rig.close();
      }
      await quiet(svc);
    }

    if (only.has('reconnect')) {
      await guarded(e, 'reconnect', async () => {
        // The same storm against bare Socket.IO with recovery: this machine's floor for it. Run twice, the first
        // unmeasured: a storm's first run in the load generator is slower by its own JIT warm-up (900 against 450-600
        // ms of its CPU in the runs of 2026-12-05), and the service's storm below then meets a warm load generator too.
        const bareRc = await spawnServer({
          name: 'bare Socket.IO (recovery)',
          args: ['bench/baselines/bare-socketio.ts'],
          env: { RECOVERY: '1' },
        });
        let bareMs: number | null = null;
        try {
          await waitHealthy(bareRc);
          for (const run of ['warm-up', 'measured']) {
            const b = await bareReconnectStorm(bareRc.url, m, quick ? 50 : 100);
            log(
              `  reconnect (bare Socket.IO, state recovery, ${run}): all arrived in ${b.allArrivedMs?.toFixed(0) ?? 'never'} ms, lost ${b.lost}, recovered ${b.recovered}`,
            );
            bareMs = b.lost === 0 ? b.allArrivedMs : null;
          }
        } finally {
          await bareRc.stop();
        }
        e.reconnect = await profiled(svc, `${label}: reconnect storm`, () => reconnectStorm(svc.url, token, m, quick ? 50 : 100));
        const rc = e.reconnect.find((r) => r.variant === 'state recovery');
        if (rc) rc.bareMs = bareMs;
        // The same storm against an instance with Redis: sessions and their packets go through the Redis adapter.
        if (engine === 'postgres' && redisUrl) {
          const prefix = `chat-bench-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
          const withRedis = await startService('service + Redis', { ...db.serverEnv(), REDIS_URL: redisUrl, REDIS_PREFIX: prefix });
          try {
            const variant = 'state recovery, Redis' as const;
            e.reconnect.push(
              ...(await profiled(withRedis, `${label}: reconnect storm, Redis`, () =>
                reconnectStorm(withRedis.url, token, m, quick ? 50 : 100, { variant }),
              )),
            );
          } finally {
            await withRedis.stop();
            await dropRedisPrefix(redisUrl, prefix);
          }
        }
        for (const r of e.reconnect)
          log(
            `  reconnect (${r.variant}): all arrived in ${r.allArrivedMs?.toFixed(0) ?? 'never'} ms, lost ${r.lost}, recovered ${r.recovered}, REST ${r.restCatchUps}`,
          );
      });
    }
    if (only.has('reconnect')) await quiet(svc);

    if (only.has('changes')) {
      const wrap = <T>(title: string, fn: () => Promise<T>, per?: (r: T) => { n: number; unit: string }) =>
        profiled(svc, `${label}: ${title}`, fn, per);
      if (changesPlan)
        await guarded(
          e,
          'edit, delete, react',
          async () => void (e.changes = await restChanges(svc, token, changesPlan!, rawChangesSide, wrap)),
        );
      await guarded(e, 'change-log catch-up', async () => {
        const catchUp = await changesCatchUp(svc, token, m.catchUp!, {
          changes: 1000,
          limit: 200,
          timeoutMs: quick ? 60_000 : 180_000,
          settle: () => settle(svc),
          wrap: (fn) => wrap('change-log catch-up', fn, (pages) => ({ n: pages, unit: 'pages' })),
        });
        e.changes = { ...(e.changes ?? { messages: m.data.total, ops: {} }), catchUp };
      });
    }

    if (sdkPlan) {
      await guarded(e, 'SDK convergence after a cut', async () => {
        const run = () => sdkConvergence(svc, token, sdkPlan, () => settle(svc));
        (e.sdk ??= {}).convergence = await profiled(svc, `${label}: SDK clients converge after a cut`, run);
      });
      await quiet(svc);
      await guarded(
        e,
        'SDK heap per client',
        async () => void ((e.sdk ??= {}).heap = await sdkHeap(svc, token, sdkPlan, () => quiet(svc))),
      );
      await quiet(svc);
    }

    if (webPlan) {
      // The bundle does not depend on the database: measured in the first engine's run.
      if (first) await guarded(e, 'web app bundle', async () => void ((e.web ??= {}).bundle = webBundle()));
      await guarded(e, 'web app in Chromium', async () => {
        Object.assign((e.web ??= {}), await profiled(svc, `${label}: web app in Chromium`, () => webApp(svc, token, webPlan)));
      });
      await quiet(svc);
    }

    // Before the webhooks: their 1,000 messages/s can leave PGlite a backlog of sends that would land in the erase's numbers.
    if (erasePlan) {
      await guarded(e, 'erase under load', async () => {
        const ctx = { token, adminToken: await adminToken(), loadRooms: m.fanout.get(10)!, settle: () => settle(svc) };
        e.erase = await profiled(svc, `${label}: erase under load`, () => eraseUnderLoad(svc, ctx, erasePlan));
      });
      await quiet(svc);
    }

    if (only.has('webhooks')) {
      await guarded(e, 'outgoing webhooks under load', async () => {
        const o: WebhooksOptions = { ...WEBHOOKS, ramp: { ...RAMP, start: startRate(10) } };
        const ctx = {
          token,
          adminToken: await adminToken(),
          loadRooms: m.fanout.get(2)!,
          fanout: { size: 10, rooms: m.fanout.get(10)!, target: serviceTarget([svc], 10) },
          settle: () => settle(svc),
        };
        e.webhooks = await profiled(svc, `${label}: outgoing webhooks under load`, () => webhooksUnderLoad(svc, ctx, o));
      });
      await quiet(svc);
    }

    if (only.has('idle')) {
      await guarded(e, 'idle sockets', async () => {
        const auths = await Promise.all(m.idle.users.map(async (u) => ({ token: await token(u) })));
        e.idle = await profiled(
          svc,
          `${label}: ${auths.length} idle sockets connecting`,
          () => idleSockets(svc, auths, 64),
          (r) => ({ n: r.sockets, unit: 'sockets' }),
        );
        log(
          `  idle: ${e.idle.sockets} sockets, heap ${(e.idle.heapPerSocket / 1024).toFixed(1)} KiB/socket, RSS ${(e.idle.rssPerSocket / 1024).toFixed(1)} KiB/socket, connect p99 ${e.idle.connect.p99} ms`,
        );
        await settle(svc, 10_000);
        if (bare) {
          const bareAuths = m.idle.users.map((u) => ({ rooms: [`user:${u}`, ...m.idle.rooms.get(u)!.map((r) => `room:${r}`)] }));
          results.bare.idle = await idleSockets(bare, bareAuths, 64);
          log(
            `  idle (bare): heap ${(results.bare.idle.heapPerSocket / 1024).toFixed(1)} KiB/socket, RSS ${(results.bare.idle.rssPerSocket / 1024).toFixed(1)} KiB/socket, connect p99 ${results.bare.idle.connect.p99} ms`,
          );
        }
      });
    }

    await bare?.stop();
    await server.stop();
    e.serverErrors = server.errorLines();
    if (e.serverErrors.length) log(`  the service logged ${e.serverErrors.length} error line(s), first: ${e.serverErrors[0]}`);
    server = undefined;

    if (e.dataset) {
      const check = await db.open(1);
      try {
        const [row] = await check.query<{ n: string }>(
          `select count(*) as n from message_read_receipt where room_id = $1 and kind = 'read' and user_id like 'ur-%'`,
          [m.unread.room.id],
        );
        e.dataset.receiptRows = Number(row!.n);
      } finally {
        await check.close();
      }
    }

    if (only.has('startup')) {
      await guarded(e, 'start to ready', async () => {
        // Quick runs count the start of the server under test; full runs start it again, plainly, three times.
        const prepared = quick ? [svc.readyMs] : await startToReady({ JWT_SECRET, ...db.serverEnv() }, 3);
        const embedded = isEmbedded(engine);
        const fresh = !quick && embedded ? await withFreshDataDir(engine, (env) => startToReady({ JWT_SECRET, ...env }, 1)) : undefined;
        const phases = !quick && embedded ? await startupPhases(db.dataDir) : undefined;
        const compiled = embedded ? await compiledStartToReady({ JWT_SECRET, ...db.serverEnv() }, quick ? 1 : 3) : undefined;
        const npmStart = embedded ? await npmStartToReady({ JWT_SECRET, ...db.serverEnv() }, quick ? 1 : 3) : undefined;
        e.startup = {
          prepared,
          ...(fresh ? { fresh } : {}),
          ...(phases ? { phases } : {}),
          ...(compiled ? { compiled } : {}),
          ...(npmStart ? { npmStart } : {}),
        };
        if (phases)
          log(
            `  start phases: node+tsx ${phases.nodeAndTsxBootMs.toFixed(0)} ms, import app ${phases.importAppMs.toFixed(0)} ms, open the database ${phases.openPgliteMs.toFixed(0)} ms, migrate ${phases.migrateMs.toFixed(0)} ms, build app ${phases.buildAppMs.toFixed(0)} ms, listen ${phases.listenMs.toFixed(0)} ms`,
          );
        log(
          `  start to ready: ${prepared.map((v) => (v / 1000).toFixed(2)).join(', ')} s${fresh ? `; empty DATA_DIR ${(fresh[0]! / 1000).toFixed(2)} s` : ''}${compiled ? `; compiled ${compiled.map((v) => (v / 1000).toFixed(2)).join(', ')} s` : ''}${npmStart ? `; npm start ${npmStart.map((v) => (v / 1000).toFixed(2)).join(', ')} s` : ''}`,
        );
      });
    }

    if (only.has('cluster') && engine === 'postgres' && redisUrl) {
      await guarded(e, 'two instances + Redis', async () => {
        const size = 10;
        const one = e.fanout?.[size]?.half ?? null;
        const rate = one?.rate ?? startRate(size) * 2;
        const prefix = `chat-bench-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
        const env = { ...db.serverEnv(), REDIS_URL: redisUrl, REDIS_PREFIX: prefix };
        const a = await startService('instance A', env);
        const b = await startService('instance B', env);
        try {
          const rig = new FanoutRig(serviceTarget([a, b], size), m.fanout.get(size)!);
          try {
            await rig.connect();
            await warm(rig, 1);
            const two = await rig.step('cluster', rate, RAMP.seconds * 2, RAMP.drainMs);
            e.cluster = { rate, size, two, one };
            log(
              `  two instances + Redis at ${Math.round(rate)} msg/s: p50 ${two.all.p50} / p99 ${two.all.p99} ms, lost ${two.lost} (one instance: p99 ${one?.all.p99 ?? '–'} ms)`,
            );
          } finally {
            await rig.close();
          }
        } finally {
          await Promise.all([a.stop(), b.stop()]);
          await dropRedisPrefix(redisUrl, prefix);
        }
      });
    }
    if (only.has('scaling') && engine === 'postgres' && (redisUrl || topology)) {
      await guarded(e, `scaling: 1, 2, 4 instances + ${topology ? 'Redis Cluster' : 'Redis'}`, async () => {
        const redis = redisUrl;
        const shared = topology
          ? { env: () => topology.env(db.url!), cleanup: async () => {}, entries: () => topology.publishes(), label: topology.label }
          : {
              env: () => ({ REDIS_URL: redis! }),
              cleanup: (prefix: string) => dropRedisPrefix(redis!, prefix),
              entries: () => redisCalls(redis!, 'xadd'),
              label: 'Redis',
            };
        e.scaling = await scaling({
          topology: shared.label,
          counts: [1, 2, 4],
          roomSize: 10,
          rooms: m.fanout.get(10)!,
          ramp: { ...RAMP, start: startRate(10) },
          start: (name, prefix) => startService(name, { ...db.serverEnv(), ...shared.env(), REDIS_PREFIX: prefix }),
          auth: async (u) => ({ token: await token(u) }),
          settle: async (servers) => {
            for (const s of servers) await settle(s);
          },
          cleanup: shared.cleanup,
          streamEntries: shared.entries,
        });
      });
    }
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n').slice(0, 3).join(' ') : String(err);
    log(`  ⚠️ ${label} stopped: ${msg}`);
    e.failures.push(`stopped: ${msg}`);
  } finally {
    await bare?.stop();
    await server?.stop();
    await db.drop();
    await topology?.close();
  }
  return e;
}

/** How many times the Redis server has run `command` since it started (INFO commandstats). */
async function redisCalls(url: string, command: string): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const stats = await redis.info('commandstats');
    return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
  } finally {
    redis.disconnect();
  }
}

async function dropRedisPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    for (let i = 0; i < 10_000; i++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } catch {
    /* transient keys expire anyway */
  } finally {
    redis.disconnect();
  }
}

async function cleanup(): Promise<void> {
  await stopAll();
  await dropAll();
}

/** --render=<results json>: rebuilds the table of an earlier run (after a change to the report) and rewrites its files. */
function render(file: string): void {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
  saved.uncommitted ??= [];
  saved.rows = buildRows(saved);
  writeFileSync(file, JSON.stringify(saved, null, 2) + '\n');
  const md = markdown(saved);
  const stamp = path.basename(file, '.json');
  writeFileSync(path.join(path.dirname(file), `${stamp}.md`), `# Benchmarks ${stamp}\n\n${md}`);
  if (saved.mode === 'full') writeFileSync(path.join(path.dirname(file), 'latest.md'), `# Benchmarks ${stamp}\n\n${md}`);
  const readme = saved.mode === 'full' && !flag('no-readme') && updateBenchPage(ROOT, md, file);
  process.stdout.write(md);
  log(`rewrote ${stamp}.md and latest.md${readme ? '; docs/benchmarks.md updated' : ''}`);
}

async function main(): Promise<void> {
  const renderFile = opt('render');
  if (renderFile) return render(path.resolve(renderFile));
  pinSelf();
  const t0 = performance.now();
  log(
    `chat service benchmark (${quick ? 'quick' : 'full'}): engines ${engines.join(', ')}${redisUrl && engines.includes('postgres') ? ' + Redis' : ''}; scenarios ${[...only].join(', ')}`,
  );
  log(
    `machine: ${results.machine.cpus} cores, load average ${results.machine.loadAvgStart.map((v) => v.toFixed(2)).join(' ')}; ${pinning ? `servers on core ${pinning.server}, load generator on core ${pinning.loadgen}` : 'no CPU pinning'}`,
  );
  for (const [i, engine] of engines.entries()) await runEngine(engine, i === 0);
  results.seconds = (performance.now() - t0) / 1000;
  results.machine.loadAvgEnd = os.loadavg();
  results.rows = buildRows(results);

  const md = markdown(results);
  const stamp = results.date.slice(0, 16).replace(':', '-') + (quick ? '-quick' : '');
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const jsonFile = path.join(dir, `${stamp}.json`);
  writeFileSync(jsonFile, JSON.stringify(results, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  writeFileSync(path.join(dir, `${stamp}.md`), `# Benchmarks ${stamp}\n\n${md}`);
  // latest.md is what docs/benchmarks.md shows: the latest full run. Quick runs, and runs of some scenarios or engines
  // (--only, --engines), keep to their own dated files.
  const complete = !quick && opt('only') === undefined && opt('engines') === undefined;
  if (complete) writeFileSync(path.join(dir, 'latest.md'), `# Benchmarks ${stamp}\n\n${md}`);
  if (profileDir) {
    const summary = profiles.map(profileText).join('\n');
    writeFileSync(path.join(dir, `${stamp}-profile.txt`), summary);
    process.stdout.write(`\n${summary}\n`);
    rmSync(profileDir, { recursive: true, force: true });
  }
  const readme = complete && !flag('no-readme') && updateBenchPage(ROOT, md, jsonFile);
  process.stdout.write(`\n${md}\n`);
  log(
    `wrote bench/results/${stamp}.json and ${stamp}.md${complete ? ' and latest.md' : ''}${readme ? '; docs/benchmarks.md updated' : ''} (${results.seconds.toFixed(0)} s)`,
  );
}

// Everything stops by itself: a watchdog ends a run that overstays, and signals clean up servers and databases.
const watchdog = setTimeout(
  () => {
    log('watchdog: the run took too long; stopping');
    void cleanup().finally(() => process.exit(2));
  },
  (quick ? 10 : 40) * 60_000,
);
watchdog.unref();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping servers, dropping databases`);
    void cleanup().finally(() => process.exit(130));
  });
}

main()
  .then(async () => {
    await cleanup();
    await sleep(50);
    process.exit(0);
  })
  .catch(async (err: unknown) => {
    log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await cleanup();
    process.exit(1);
  });
