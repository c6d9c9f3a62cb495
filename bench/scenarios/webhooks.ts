import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Latency, type LatencySummary } from '../lib/histogram.js';
import { log, sleep, until } from '../lib/log.js';
import { httpJson, type ServerProcess } from '../lib/processes.js';
import type { Row } from '../lib/report.js';
import type { RoomPlan } from '../lib/seed.js';
import { SteadyLoad, type PhaseResult } from '../lib/steady.js';
import { FanoutRig, ramp, warm, type FanoutTarget, type RampOptions, type RampResult, type StepResult } from './fanout.js';

export interface WebhooksOptions {
  /** Messages (= message.created events) per second while the lag is measured, and for how long. */
  rate: number;
  seconds: number;
  /** After the last send, how long the deliveries still due may take to arrive before they count as undelivered. */
  drainMs: number;
  /** The fan-out ramp compared without and with the webhook (the fan-out scenario's ramp, one room size). */
  ramp: RampOptions;
}

export interface WebhooksResult {
  rate: number;
  seconds: number;
  rooms: number;
  /** The sends themselves (due → the other member's socket has it). */
  sends: PhaseResult;
  received: number;
  duplicates: number;
  /** message.created events of the measured sends that never reached the receiver within the drain. */
  undelivered: number;
  /** Send (due time, bench clock) → the receiver has the POST. */
  lag: LatencySummary;
  /** The event's `createdAt` (the commit, server clock) → the receiver has it; same machine, so the clocks agree. */
  lagFromCreatedAt: LatencySummary;
  fanout?: {
    size: number;
    without: RampResult;
    with: RampResult;
    /** The with-webhook state at the without ramp's half-max rate, so the p99s compare at one rate. */
    withAtSameRate: StepResult | null;
    /** Ramp messages whose webhook POST had not arrived when the drain ran out. */
    backlog: number;
    /** From then until the last of them arrived (null: not within BACKLOG_WAIT_MS), before the lag phase began. */
    backlogDrainedMs: number | null;
  };
}

/** How long the lag phase waits at most for the ramp's leftover deliveries before it starts anyway. */
const BACKLOG_WAIT_MS = 180_000;

const drainedText = (f: { backlog: number; backlogDrainedMs?: number | null }) =>
  f.backlog === 0 || f.backlogDrainedMs === undefined
    ? ''
    : f.backlogDrainedMs === null
      ? ` (not drained in ${BACKLOG_WAIT_MS / 1000} s)`
      : ` (drained in ${(f.backlogDrainedMs / 1000).toFixed(1)} s, before the lag row)`;

interface Receiver {
  url: string;
  received: number;
  duplicates: number;
  close(): Promise<void>;
}

/** A webhook receiver in the bench process: answers 204 at once, tells `onEvent` each body with its arrival time. */
async function startReceiver(onEvent: (body: { id: string; type: string; data: any }, at: number) => void): Promise<Receiver> {
  const seen = new Set<string>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      res.writeHead(204).end();
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string; type: string; data: any };
        if (seen.has(body.id)) r.duplicates++;
        else {
          seen.add(body.id);
          r.received++;
          onEvent(body, at);
        }
      } catch {
        /* not an event: counted nowhere */
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const r: Receiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received: 0,
    duplicates: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return r;
}

/**
 * Outgoing webhooks under load (issue 15): a fan-out ramp without a webhook; then one webhook subscribed to `*`
 * pointing at a receiver in the bench process and the same ramp again (plus a step at the first ramp's half-max rate);
 * then `rate` messages/s for `seconds` over the direct rooms, each timed from its due time to its POST's arrival; then
 * the webhook is removed.
 */
export async function webhooksUnderLoad(
  server: ServerProcess,
  ctx: {
    token: (userId: string) => Promise<string>;
    adminToken: string;
    loadRooms: RoomPlan[];
    fanout: { size: number; rooms: RoomPlan[]; target: FanoutTarget };
    settle: () => Promise<void>;
  },
  o: WebhooksOptions,
): Promise<WebhooksResult> {
  const api = `${server.url}/api/v1/chat`;
  const { size } = ctx.fanout;
  const rig = new FanoutRig(ctx.fanout.target, ctx.fanout.rooms);
  const load = new SteadyLoad(server.url, async (u) => ({ token: await ctx.token(u) }), ctx.loadRooms);
  const due = new Map<string, number>();
  const lag = new Latency();
  const lagFromCreatedAt = new Latency();
  let rampArrivals = 0;
  const receiver = await startReceiver((body, at) => {
    const key = body.type === 'message.created' ? (body.data?.clientMessageId as string | null) : null;
    if (!key) return;
    const t = due.get(key);
    if (t !== undefined) {
      due.delete(key);
      lag.record(at - t);
      lagFromCreatedAt.record(Date.now() - Date.parse(body.data.createdAt as string));
    } else if (key.startsWith('webhook')) rampArrivals++;
  });
  let webhookId: string | undefined;
  try {
    await rig.connect();
    await ctx.settle();
    await warm(rig);
    const without = await ramp(rig, size, 'no webhook', o.ramp, ctx.settle);
    await ctx.settle();

    const created = await httpJson('POST', `${api}/admin/webhooks`, ctx.adminToken, { url: receiver.url, events: ['*'] });
    if (created.status !== 201) throw new Error(`POST /admin/webhooks answered ${created.status}: ${JSON.stringify(created.body)}`);
    webhookId = (created.body as { id: string }).id;
    await sleep(200);

    // The same ramp with the webhook, before any backlog exists (the lag phase below may leave one).
    const withHook = await ramp(rig, size, 'webhook', o.ramp, ctx.settle);
    const sameRate = without.half ? await rig.step('webhook-same', without.half.rate, o.ramp.seconds, o.ramp.drainMs) : null;
    const rampPersisted = [...withHook.steps, ...(sameRate ? [sameRate] : [])].reduce((a, st) => a + st.persisted, 0);
    await until(() => rampArrivals >= rampPersisted, o.drainMs, 20);
    const backlog = Math.max(0, rampPersisted - rampArrivals);
    // The lag phase times a steady 1,000 events/s from an empty queue: the ramp's leftovers would put every one of its
    // events behind them and time the ramp instead (2026-12-06: 21,277 left, none of the 20,000 arrived in time).
    let backlogDrainedMs: number | null = 0;
    if (backlog > 0) {
      const start = performance.now();
      backlogDrainedMs = (await until(() => rampArrivals >= rampPersisted, BACKLOG_WAIT_MS, 20)) ? performance.now() - start : null;
    }
    if (sameRate)
      log(
        `    webhook room of ${size} at the no-webhook half rate (${Math.round(sameRate.rate)}/s): p99 ${sameRate.all.p99.toFixed(1)} ms (without: ${without.half!.all.p99.toFixed(1)} ms); webhook backlog after the ramp ${backlog}${drainedText({ backlog, backlogDrainedMs })}`,
      );
    await ctx.settle();

    await load.connect();
    await ctx.settle();
    // A short warm-up at a tenth of the rate (statements prepared, the sender's first claims), not measured.
    load.phase('warm');
    await load.run(Math.max(10, o.rate / 10), 1000, 2000, 'whwarm');
    await until(() => receiver.received >= load.result('warm')!.persisted, 5000, 20);
    load.phase('main');
    await load.run(o.rate, o.seconds * 1000, o.drainMs, 'wh', (key, at) => due.set(key, at));
    const sends = load.result('main')!;
    await until(() => due.size === 0, o.drainMs, 20);
    // Whatever is still missing never arrived in time (a failed send has no event either).
    const undelivered = Math.max(0, due.size - (sends.sent - sends.persisted));
    due.clear();
    const lagS = lag.summary();
    log(
      `    webhook at ${o.rate} msgs/s for ${o.seconds} s: send → receiver p50 ${lagS.p50.toFixed(1)} / p99 ${lagS.p99.toFixed(1)} ms, ` +
        `${receiver.received} received, ${undelivered} undelivered, ${receiver.duplicates} duplicates; sends p99 ${sends.all.p99.toFixed(1)} ms, ${sends.errors} errors`,
    );
    return {
      rate: o.rate,
      seconds: o.seconds,
      rooms: ctx.loadRooms.length,
      sends,
      received: receiver.received,
      duplicates: receiver.duplicates,
      undelivered,
      lag: lagS,
      lagFromCreatedAt: lagFromCreatedAt.summary(),
      fanout: { size, without, with: withHook, withAtSameRate: sameRate, backlog, backlogDrainedMs },
    };
  } finally {
    if (webhookId) {
      const gone = await httpJson('DELETE', `${api}/admin/webhooks/${webhookId}`, ctx.adminToken).catch((err: Error) => ({
        status: 0,
        body: err.message,
      }));
      if (gone.status !== 204) log(`    ⚠️ DELETE /admin/webhooks answered ${gone.status}: ${JSON.stringify(gone.body)}`);
    }
    await Promise.all([rig.close(), load.close()]);
    await sleep(200);
    await receiver.close();
  }
}

const ms = (v: number) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) : '–');
const pp = (l: LatencySummary | undefined) => (l && l.count ? `${ms(l.p50)} / ${ms(l.p99)} ms` : '–');
const rate = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? `${Math.round(v).toLocaleString('en')}/s` : '–');
const x = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '–');

export function webhookRows(r: WebhooksResult): Array<Omit<Row, 'engine'>> {
  const rows: Array<Omit<Row, 'engine'>> = [];
  const clean = r.undelivered === 0 && r.sends.errors === 0;
  rows.push({
    scenario: `outgoing webhook (\`*\`, local receiver answering 204), ${rate(r.rate)} messages for ${r.seconds} s over ${r.rooms} direct rooms`,
    metric: `send → webhook POST received, p50 / p99 (${r.received.toLocaleString('en')} received, ${r.undelivered} undelivered, ${r.duplicates} duplicates)`,
    service: pp(r.lag),
    baseline: `${pp(r.sends.all)} send → recipient's socket`,
    ratio: '',
    target: 'p99 ≤ 1 s',
    met: r.lag.count ? r.lag.p99 <= 1000 && clean : false,
  });
  const f = r.fanout;
  if (!f) return rows;
  const name = `room of ${f.size}, all online: one webhook (\`*\`) registered vs none, same run`;
  const wmax = f.with.max?.persistedPerS ?? Number.NaN;
  const nmax = f.without.max?.persistedPerS ?? Number.NaN;
  const maxRatio = wmax / nmax;
  rows.push({
    scenario: name,
    metric: 'max msgs/s, all-recipient p99 < 100 ms, 0 lost',
    service: `${rate(wmax)} with webhook`,
    baseline: `${rate(nmax)} without`,
    ratio: x(maxRatio),
    target: '≥ 0.95×',
    met: Number.isFinite(maxRatio) ? maxRatio >= 0.95 : null,
  });
  const same = f.withAtSameRate;
  const half = f.without.half;
  const p99Ratio = same && half ? same.all.p99 / half.all.p99 : Number.NaN;
  rows.push({
    scenario: name,
    metric: `send → every recipient p50 / p99 at the no-webhook half max (${rate(half?.rate)}); webhook backlog after: ${f.backlog}${drainedText(f)}`,
    service: `${pp(same?.all)} with webhook`,
    baseline: `${pp(half?.all)} without`,
    ratio: x(p99Ratio),
    target: '≤ 1.05× (p99)',
    met: Number.isFinite(p99Ratio) ? p99Ratio <= 1.05 : null,
  });
  return rows;
}
