import { closeAll, connectAll, type ClientSocket } from './clients.js';
import { Latency, type LatencySummary } from './histogram.js';
import { sleep, until } from './log.js';
import type { RoomPlan } from './seed.js';

/** What the messages sent during one phase of a steady load saw. */
export interface PhaseResult {
  sent: number;
  /** Acked `ok` (persisted). */
  persisted: number;
  errors: number;
  /** Deliveries that had not arrived when the drain ran out. */
  lost: number;
  /** Due time → the last recipient has it. */
  all: LatencySummary;
  /** Due time → the sender's ack. */
  ack: LatencySummary;
  firstError?: string;
}

interface Phase {
  sent: number;
  persisted: number;
  errors: number;
  acked: number;
  all: Latency;
  ack: Latency;
  firstError?: string;
  inflight: Set<string>;
}

interface InFlight {
  due: number;
  expected: number;
  got: number;
  phase: Phase;
}

const FILLER = 'the quick brown fox jumps over the lazy dog while the team reviews the release notes';

/**
 * An open-loop send load of unknown length (it runs until `stop()`, bounded by a time limit), split into named
 * phases: each message counts in the phase it was due in, so "during the erase" is exactly the messages sent while it
 * ran. Same sockets, payloads and measure as the fan-out rig (send due time → last recipient), round-robin over rooms
 * and senders.
 */
export class SteadyLoad {
  readonly sockets = new Map<string, ClientSocket>();
  private readonly phases = new Map<string, Phase>();
  private current: Phase | undefined;
  private inflight = new Map<string, InFlight>();
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly auth: (userId: string) => Promise<Record<string, unknown>>,
    readonly rooms: RoomPlan[],
  ) {}

  async connect(concurrency = 50): Promise<void> {
    const members = this.rooms.flatMap((r) => r.members);
    const auths = await Promise.all(members.map((u) => this.auth(u)));
    const res = await connectAll(this.url, auths, {
      concurrency,
      waitReady: false,
      onSocket: (s, i) => {
        const userId = members[i]!;
        s.on('new_message', (m: { senderId: string; clientMessageId: string | null }, ack?: () => void) => {
          if (typeof ack === 'function') ack();
          if (m.senderId !== userId && m.clientMessageId) this.onDelivery(m.clientMessageId);
        });
      },
    });
    if (res.failed) throw new Error(`steady load: ${res.failed} sockets failed to connect (${res.errors.join('; ')})`);
    members.forEach((u, i) => this.sockets.set(u, res.sockets[i]!));
  }

  /** Messages due from now on count in `name`. */
  phase(name: string): void {
    let p = this.phases.get(name);
    if (!p) {
      p = { sent: 0, persisted: 0, errors: 0, acked: 0, all: new Latency(), ack: new Latency(), inflight: new Set() };
      this.phases.set(name, p);
    }
    this.current = p;
  }

  stop(): void {
    this.stopped = true;
  }

  private onDelivery(key: string): void {
    const rec = this.inflight.get(key);
    if (!rec) return;
    rec.got++;
    if (rec.got === rec.expected) {
      rec.phase.all.record(performance.now() - rec.due);
      rec.phase.inflight.delete(key);
      this.inflight.delete(key);
    }
  }

  /**
   * Sends `rate` messages/s until `stop()` or `maxMs`; `onSend` learns each message's key (its clientMessageId) and
   * due time. Returns after the sends stop and the answers drained (at most `drainMs`).
   */
  async run(rate: number, maxMs: number, drainMs: number, tag: string, onSend?: (key: string, due: number) => void): Promise<void> {
    if (!this.current) this.phase('main');
    this.stopped = false;
    const t0 = performance.now();
    const interval = 1000 / rate;
    const R = this.rooms.length;
    let n = 0;
    while (!this.stopped && performance.now() - t0 < maxMs) {
      const now = performance.now();
      while (!this.stopped && t0 + n * interval <= now) {
        const due = t0 + n * interval;
        const room = this.rooms[n % R]!;
        const sender = room.members[Math.floor(n / R) % room.members.length]!;
        const key = `${tag}.${n}`;
        const phase = this.current!;
        phase.sent++;
        phase.inflight.add(key);
        this.inflight.set(key, { due, expected: room.members.length - 1, got: 0, phase });
        onSend?.(key, due);
        this.sockets
          .get(sender)!
          .emit(
            'send_message',
            { chatRoomId: room.id, content: `bench ${key} ${FILLER}`, clientMessageId: key },
            (res: { ok: boolean; error?: { code: string; message: string } }) => {
              phase.acked++;
              phase.ack.record(performance.now() - due);
              if (res?.ok) phase.persisted++;
              else {
                phase.errors++;
                phase.firstError ??= `${res?.error?.code}: ${res?.error?.message}`;
              }
            },
          );
        n++;
      }
      await sleep(Math.max(0, Math.min(4, t0 + n * interval - performance.now())));
    }
    await until(() => [...this.phases.values()].every((p) => p.acked >= p.sent && p.inflight.size === 0), drainMs, 5);
  }

  result(name: string): PhaseResult | undefined {
    const p = this.phases.get(name);
    if (!p) return undefined;
    let lost = 0;
    for (const key of p.inflight) {
      const rec = this.inflight.get(key);
      if (rec) lost += rec.expected - Math.min(rec.got, rec.expected);
    }
    return {
      sent: p.sent,
      persisted: p.persisted,
      errors: p.errors + (p.sent - p.acked),
      lost,
      all: p.all.summary(),
      ack: p.ack.summary(),
      ...(p.firstError ? { firstError: p.firstError } : {}),
    };
  }

  async close(): Promise<void> {
    await closeAll([...this.sockets.values()]);
  }
}
