import { closeAll, connectAll, openLoop, type ClientSocket } from '../lib/clients.js';
import { Latency, type LatencySummary } from '../lib/histogram.js';
import { log, sleep, until } from '../lib/log.js';
import type { ServerProcess } from '../lib/processes.js';
import type { RoomPlan } from '../lib/seed.js';

/** Where a ramp sends its load: the service (one or two instances) or the bare Socket.IO baseline. */
export interface FanoutTarget {
  name: string;
  servers: ServerProcess[];
  /** The server a member's socket connects to (two instances: half the room on each). */
  urlFor(memberIndex: number): string;
  auth(userId: string, rooms: string[]): Promise<Record<string, unknown>>;
  /** The bare server has no token to learn the sender from: the payload names it. */
  bare?: boolean;
}

export interface StepResult {
  rate: number;
  seconds: number;
  sent: number;
  persisted: number;
  errors: number;
  /** Deliveries that had not arrived when the step's drain time ran out. */
  lost: number;
  deliveries: number;
  /** Send (its due time) → the last recipient of the message has it. */
  all: LatencySummary;
  /** Send → each single delivery. */
  each: LatencySummary;
  /** Send → the sender's ack (the service acks after commit). */
  ack: LatencySummary;
  persistedPerS: number;
  serverCpuShare: number;
  serverCpuUsPerDelivery: number;
  loadgenCpuShare: number;
  maxLagMs: number;
  pass: boolean;
  firstError?: string;
}

export interface RampResult {
  size: number;
  rooms: number;
  steps: StepResult[];
  /** The highest passing step: p99 (all recipients) < 100 ms, nothing lost, no errors. */
  max: StepResult | null;
  /** A step at half the max rate. */
  half: StepResult | null;
  stoppedBy: string;
}

export const P99_LIMIT_MS = 100;

interface InFlight {
  due: number;
  expected: number;
  got: number;
}

/** Connected sockets of every member of the rooms of one size, with the bookkeeping of messages in flight. */
export class FanoutRig {
  readonly sockets = new Map<string, ClientSocket>();
  private inflight = new Map<string, InFlight>();
  private each = new Latency();
  private all = new Latency();
  private complete = 0;
  private deliveries = 0;

  constructor(
    readonly target: FanoutTarget,
    readonly rooms: RoomPlan[],
  ) {}

  async connect(concurrency = 50): Promise<void> {
    const members = this.rooms.flatMap((r) => r.members.map((u, k) => ({ u, k, room: r.id })));
    const auths = await Promise.all(members.map((m) => this.target.auth(m.u, [`user:${m.u}`, `room:${m.room}`])));
    // One connectAll per server (two instances: every member connects to the one urlFor says).
    const byUrl = new Map<string, number[]>();
    members.forEach((m, i) => {
      const url = this.target.urlFor(m.k);
      byUrl.set(url, [...(byUrl.get(url) ?? []), i]);
    });
    for (const [url, idx] of byUrl) {
      const res = await connectAll(
        url,
        idx.map((i) => auths[i]!),
        {
          concurrency,
          waitReady: false,
          onSocket: (s, j) => {
            const userId = members[idx[j]!]!.u;
            s.on('new_message', (m: { senderId: string; clientMessageId: string | null }, ack?: () => void) => {
              if (typeof ack === 'function') ack();
              if (m.senderId === userId || !m.clientMessageId) return;
              this.onDelivery(m.clientMessageId);
            });
          },
        },
      );
      if (res.failed) throw new Error(`${this.target.name}: ${res.failed} sockets failed to connect (${res.errors.join('; ')})`);
      idx.forEach((i, j) => this.sockets.set(members[i]!.u, res.sockets[j]!));
    }
  }

  private onDelivery(key: string): void {
    const rec = this.inflight.get(key);
    if (!rec) return;
    const now = performance.now();
    rec.got++;
    this.deliveries++;
    this.each.record(now - rec.due);
    if (rec.got === rec.expected) {
      this.all.record(now - rec.due);
      this.complete++;
    }
  }

  /** One open-loop step at `rate` messages/s, spread round-robin over the rooms and their members, then a drain. */
  async step(tag: string, rate: number, seconds: number, drainMs: number): Promise<StepResult> {
    this.inflight = new Map();
    this.each = new Latency();
    this.all = new Latency();
    this.complete = 0;
    this.deliveries = 0;
    const ack = new Latency();
    let acked = 0;
    let persisted = 0;
    let errors = 0;
    let firstError: string | undefined;
    const filler = 'the quick brown fox jumps over the lazy dog while the team reviews the release notes';
    const cpu0 = this.target.servers.reduce((a, s) => a + s.cpuMs(), 0);
    const lg0 = process.cpuUsage();
    const t0 = performance.now();
    const R = this.rooms.length;
    const { sent, maxLagMs } = await openLoop(rate, seconds * 1000, (n, due) => {
      const room = this.rooms[n % R]!;
      const sender = room.members[Math.floor(n / R) % room.members.length]!;
      const key = `${tag}.${n}`;
      this.inflight.set(key, { due, expected: room.members.length - 1, got: 0 });
      this.sockets.get(sender)!.emit(
        'send_message',
        {
          chatRoomId: room.id,
          content: `bench ${key} ${filler}`,
          clientMessageId: key,
          ...(this.target.bare ? { senderId: sender } : {}),
        },
        (res: { ok: boolean; error?: { code: string; message: string } }) => {
          acked++;
          ack.record(performance.now() - due);
          if (res?.ok) persisted++;
          else {
            errors++;
            firstError ??= `${res?.error?.code}: ${res?.error?.message}`;
          }
        },
      );
    });
    const sendEnd = performance.now();
    await until(() => acked >= sent && this.complete >= sent, drainMs, 5);
    const elapsed = performance.now() - t0;
    const cpu = this.target.servers.reduce((a, s) => a + s.cpuMs(), 0) - cpu0;
    const lg = process.cpuUsage(lg0);
    let lost = 0;
    for (const rec of this.inflight.values()) lost += rec.expected - Math.min(rec.got, rec.expected);
    const all = this.all.summary();
    const result: StepResult = {
      rate,
      seconds: Math.max(seconds, (sendEnd - t0) / 1000),
      sent,
      persisted,
      errors: errors + (sent - acked),
      lost,
      deliveries: this.deliveries,
      all,
      each: this.each.summary(),
      ack: ack.summary(),
      persistedPerS: persisted / Math.max(seconds, (sendEnd - t0) / 1000),
      serverCpuShare: cpu / elapsed,
      serverCpuUsPerDelivery: this.deliveries ? (cpu * 1000) / this.deliveries : Number.NaN,
      loadgenCpuShare: (lg.user + lg.system) / 1000 / elapsed,
      maxLagMs,
      pass: errors === 0 && acked === sent && lost === 0 && all.p99 < P99_LIMIT_MS,
      ...(firstError ? { firstError } : {}),
    };
    this.inflight = new Map();
    return result;
  }

  async close(): Promise<void> {
    await closeAll([...this.sockets.values()]);
  }
}

export interface RampOptions {
  start: number;
  factor: number;
  seconds: number;
  /** A step lasts long enough for at least this many messages (slow rates in big rooms). */
  minMessages: number;
  drainMs: number;
  maxSteps: number;
  maxRate: number;
  /** Give up climbing after this much time (the step under way finishes). */
  budgetMs: number;
  /** After the ramp, one step between the best pass and the first failure (full runs). */
  refine: boolean;
  /** A step that failed on p99 alone (nothing lost, no errors) runs once more before it counts: one scheduling hiccup of a busy machine should not end a ramp. */
  confirm: boolean;
}

const fmt = (s: StepResult) =>
  `${Math.round(s.rate)} msg/s → ${Math.round(s.persistedPerS)} persisted/s, all-recipient p50 ${s.all.p50.toFixed(1)} / p99 ${s.all.p99.toFixed(1)} ms, ` +
  `lost ${s.lost}, errors ${s.errors}, server CPU ${(s.serverCpuShare * 100).toFixed(0)}% (${s.serverCpuUsPerDelivery.toFixed(0)} µs/delivery), ` +
  `loadgen CPU ${(s.loadgenCpuShare * 100).toFixed(0)}% ${s.pass ? '✓' : '✗'}${s.firstError ? ` (${s.firstError})` : ''}`;

/** Climbs open-loop rates geometrically until a step fails (p99 ≥ 100 ms, loss, errors), then runs half the best rate. */
export async function ramp(rig: FanoutRig, size: number, label: string, o: RampOptions, settle: () => Promise<void>): Promise<RampResult> {
  const steps: StepResult[] = [];
  const t0 = performance.now();
  let rate = o.start;
  let stoppedBy = 'max steps';
  let n = 0;
  const run = async (r: number) => {
    const s = await rig.step(`${label}${n++}`, r, Math.max(o.seconds, o.minMessages / r), o.drainMs);
    steps.push(s);
    log(`    ${label} room of ${size}: ${fmt(s)}`);
    if (!s.pass) await settle();
    return s;
  };
  for (let i = 0; i < o.maxSteps; i++) {
    let s = await run(rate);
    if (!s.pass && o.confirm && s.lost === 0 && s.errors === 0) s = await run(rate);
    if (!s.pass) {
      stoppedBy = s.lost || s.errors ? 'loss or errors' : `p99 ≥ ${P99_LIMIT_MS} ms`;
      break;
    }
    if (rate * o.factor > o.maxRate) {
      stoppedBy = `rate cap ${o.maxRate}/s`;
      break;
    }
    if (performance.now() - t0 > o.budgetMs) {
      stoppedBy = 'time budget';
      break;
    }
    rate *= o.factor;
  }
  // Below the first rate: step down until one passes (bounded).
  for (let i = 0; i < 4 && !steps.some((s) => s.pass); i++) {
    rate /= 2;
    await run(rate);
  }
  const best = () => steps.filter((s) => s.pass).sort((a, b) => b.persistedPerS - a.persistedPerS)[0] ?? null;
  if (o.refine && best() && steps.some((s) => !s.pass && s.rate > best()!.rate)) {
    const fail = Math.min(...steps.filter((s) => !s.pass && s.rate > best()!.rate).map((s) => s.rate));
    await run(Math.round((best()!.rate + fail) / 2));
  }
  const max = best();
  // Measured after the climb, in steady state: the step of the climb at that rate may be its first, which also pays
  // for warming up (JIT, statements being prepared) and says little about latency at that load.
  const half = max ? await run(max.rate / 2) : null;
  return { size, rooms: rig.rooms.length, steps, max, half, stoppedBy };
}

let warmUps = 0;

/** Lets the sockets settle after connecting (presence announcements, joins) before load starts. */
export async function warm(rig: FanoutRig, seconds = 0.5): Promise<void> {
  // Its own tag each time: the rooms are the same for every warm-up of a run, and a repeated clientMessageId would be a
  // retry (answered with the stored message, told to nobody) instead of a new message.
  await rig.step(`warm${++warmUps}`, Math.min(50, 20 * rig.rooms.length), seconds, 1000);
  await sleep(100);
}
