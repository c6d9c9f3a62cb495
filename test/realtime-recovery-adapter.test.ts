import { SessionAwareAdapter, type Adapter, type BroadcastOptions, type Session } from 'socket.io-adapter';
import { describe, expect, inject, it, vi } from 'vitest';
import { RecoveryAdapter } from '../src/realtime/recovery-adapter.js';

// Pure logic, no database: once, in the PGlite project.
const here = inject('template').kind === 'pglite';

const WINDOW_MS = 120_000;
/** What an adapter needs of its namespace when no socket is connected: packets are kept, delivered to no one. */
const namespace = () => ({
  name: '/chat',
  sockets: new Map(),
  server: {
    encoder: { encode: (p: unknown) => [JSON.stringify(p)] },
    opts: { connectionStateRecovery: { maxDisconnectionDuration: WINDOW_MS } },
  },
});

type Packet = { type: number; id?: number; data: unknown[] };
const event = (n: number, ackId?: number): Packet => ({ type: 2, data: ['e', n], ...(ackId === undefined ? {} : { id: ackId }) });
const opts = (rooms: string[], except: string[] = [], volatile = false): BroadcastOptions => ({
  rooms: new Set(rooms),
  except: new Set(except),
  flags: volatile ? { volatile: true } : {},
});
/** The offset an adapter appended to a kept packet (the client's next recovery offset), or undefined if not kept. */
const offsetOf = (p: Packet, before: number) => (p.data.length > before ? (p.data.at(-1) as string) : undefined);
const numbers = (s: Session | null) => s?.missedPackets.map((d) => d[1]);

function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.runIf(here)('recovery adapter', () => {
  it('finds exactly what Socket.IO’s own session adapter finds, over random traffic', async () => {
    const rnd = mulberry32(7);
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
    const rooms = ['room:a', 'room:b', 'room:c', 'user:u1', 'user:u2', 'sid1', 'sid2', 'sid3'];
    const some = (max: number) => [...new Set(Array.from({ length: Math.floor(rnd() * (max + 1)) }, () => pick(rooms)))];
    const ours = new RecoveryAdapter(namespace());
    const theirs = new SessionAwareAdapter(namespace());
    /** Offsets per broadcast, in each adapter, for packets both kept. */
    const offsets: Array<{ ours: string; theirs: string }> = [];
    // 'room:c' is in no session: packets only to it are replayed to no one, so only Socket.IO's adapter keeps them.
    const awaited = rooms.filter((r) => r !== 'room:c');
    const sessions = Array.from({ length: 12 }, (_, i) => ({
      sid: `s${i}`,
      pid: `p${i}`,
      rooms: [...new Set([pick(awaited), ...some(4)])].filter((r) => r !== 'room:c'),
      data: { i },
    }));
    for (const s of sessions) {
      ours.persistSession(s);
      theirs.persistSession(s);
    }
    let unawaited = 0;
    for (let n = 0; n < 600; n++) {
      const o = opts(some(3), rnd() < 0.2 ? some(2) : [], rnd() < 0.05);
      const ack = rnd() < 0.1 ? n : undefined;
      const [a, b] = [event(n, ack), event(n, ack)];
      ours.broadcast(a, o);
      theirs.broadcast(b, o);
      const [x, y] = [offsetOf(a, 2), offsetOf(b, 2)];
      const forNoOne = o.rooms.size > 0 && [...o.rooms].every((r) => !sessions.some((s) => s.rooms.includes(r)));
      if (y !== undefined && forNoOne) unawaited++;
      expect(x === undefined).toBe(y === undefined || forNoOne);
      if (x && y) offsets.push({ ours: x, theirs: y });
    }
    expect(offsets.length).toBeGreaterThan(400);
    expect(unawaited).toBeGreaterThan(10);
    let compared = 0;
    for (const s of sessions) {
      for (let k = 0; k < 30; k++) {
        const at = pick(offsets);
        const [mine, upstream] = await Promise.all([ours.restoreSession(s.pid, at.ours), theirs.restoreSession(s.pid, at.theirs)]);
        expect(numbers(mine)).toEqual(numbers(upstream));
        expect(mine).toMatchObject({ sid: s.sid, pid: s.pid, rooms: s.rooms, data: s.data });
        compared += mine!.missedPackets.length;
      }
    }
    // The comparison covered real replays, not only empty ones.
    expect(compared).toBeGreaterThan(1000);
    ours.close();
  });

  it('restores only with a known session and offset, and within the recovery window', async () => {
    const adapter = new RecoveryAdapter(namespace());
    // A socket in room:a gets a packet, then disconnects.
    adapter.addAll('s', new Set(['room:a']));
    const p = event(1);
    adapter.broadcast(p, opts(['room:a']));
    const offset = offsetOf(p, 2)!;
    adapter.delAll('s');
    adapter.persistSession({ sid: 's', pid: 'p', rooms: ['room:a'], data: {} });
    const later = event(2);
    adapter.broadcast(later, opts(['room:a']));
    expect(numbers(await adapter.restoreSession('p', offset))).toEqual([2]);
    expect(await adapter.restoreSession('unknown', offset)).toBeNull();
    expect(await adapter.restoreSession('p', 'not-an-offset')).toBeNull();
    // A packet that outlived the window is gone, and so is a session disconnected before it.
    adapter.expire(Date.now() + 1);
    expect(await adapter.restoreSession('p', offset)).toBeNull();
    adapter.persistSession({ sid: 's', pid: 'p', rooms: ['room:a'], data: {} });
    const fresh = event(3);
    adapter.broadcast(fresh, opts(['room:a']));
    expect(await adapter.restoreSession('p', offsetOf(later, 2)!)).toBeNull();
    adapter.close();
  });

  it('keeps a packet only for a room a connected socket or a session awaiting recovery holds', async () => {
    const adapter = new RecoveryAdapter(namespace());
    const sent = (rooms: string[]) => {
      const p = event(0);
      adapter.broadcast(p, opts(rooms));
      return offsetOf(p, 2);
    };
    expect(sent(['room:empty'])).toBeUndefined();
    // A connected socket's rooms: what it receives now is what it may miss after a disconnect.
    adapter.addAll('sid1', new Set(['sid1', 'room:a']));
    const first = sent(['room:a'])!;
    expect(first).toBeDefined();
    expect(sent(['room:empty', 'room:a'])).toBeDefined();
    expect(sent([])).toBeDefined();
    adapter.delAll('sid1');
    expect(sent(['room:a'])).toBeUndefined();
    // Disconnected with its rooms persisted: packets to them are kept until its session goes.
    adapter.persistSession({ sid: 'sid1', pid: 'p1', rooms: ['sid1', 'room:a'], data: {} });
    const missed = sent(['room:a'])!;
    expect(missed).toBeDefined();
    expect((await adapter.restoreSession('p1', first))!.missedPackets.map((d) => d.at(-1))).toContain(missed);
    // A session persisted again (same pid) counts once: it holds only its new rooms.
    adapter.persistSession({ sid: 'sid1', pid: 'p1', rooms: ['room:b'], data: {} });
    expect(sent(['room:a'])).toBeUndefined();
    expect(sent(['room:b'])).toBeDefined();
    adapter.expire(Date.now() + 1);
    expect(sent(['room:b'])).toBeUndefined();
    adapter.close();
  });

  it('drops packets within a quarter of the window after they leave it, not a minute', async () => {
    vi.useFakeTimers();
    try {
      const window = 8_000;
      const adapter = new RecoveryAdapter({
        ...namespace(),
        server: { ...namespace().server, opts: { connectionStateRecovery: { maxDisconnectionDuration: window } } },
      });
      adapter.addAll('s', new Set(['room:a']));
      const first = event(1);
      adapter.broadcast(first, opts(['room:a']));
      vi.advanceTimersByTime(3_000);
      const second = event(2);
      adapter.broadcast(second, opts(['room:a']));
      adapter.delAll('s');
      adapter.persistSession({ sid: 's', pid: 'p', rooms: ['room:a'], data: {} });
      expect(numbers(await adapter.restoreSession('p', offsetOf(first, 2)!))).toEqual([2]);
      // 10 s: the first packet is 2 s past the window and gone; the second and the session (3 s) are still in it.
      vi.advanceTimersByTime(7_000);
      expect(await adapter.restoreSession('p', offsetOf(first, 2)!)).toBeNull();
      expect(numbers(await adapter.restoreSession('p', offsetOf(second, 2)!))).toEqual([]);
      adapter.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps no packet with an acknowledgement, no volatile one and no packet other than an event', () => {
    const adapter: Adapter = new RecoveryAdapter(namespace());
    const acked = event(1, 42);
    const volatile = event(2);
    const connect: Packet = { type: 0, data: ['x'] };
    adapter.broadcast(acked as never, opts(['room:a']));
    adapter.broadcast(volatile as never, opts(['room:a'], [], true));
    adapter.broadcast(connect as never, opts(['room:a']));
    expect([acked.data.length, volatile.data.length, connect.data.length]).toEqual([2, 2, 1]);
    adapter.close();
  });
});
