import { describe, expect, inject, it } from 'vitest';
import { PacketIndex } from '../src/realtime/packet-index.js';
import { indexedStreamRecovery } from '../src/realtime/stream-recovery.js';

// Pure logic around a stand-in for the Redis streams adapter: once, in the PGlite project. The Redis adapter itself
// runs under it in every realtime suite of the PostgreSQL project with TEST_REDIS_URL.
const here = inject('template').kind === 'pglite';

type Message = { nsp: string; type: number; data?: Record<string, unknown> };

/** What the wrapper reaches of the Redis streams adapter, recording what the wrapper asks of it. */
class FakeStreamsAdapter {
  readonly nsp = { name: '/chat', server: { opts: { connectionStateRecovery: { maxDisconnectionDuration: 120_000 } } } };
  readonly delivered: Array<{ data: unknown[]; offset?: string }> = [];
  readonly restores: Array<[string, string]> = [];
  /** What its own restore answers: the session, and the stream's entries after the offset it was given. */
  tail: unknown[][] = [];
  onMessage(message: Message, offset?: string): void {
    const packet = message.data?.['packet'] as { data: unknown[] } | undefined;
    // As the cluster adapter does: the offset is appended to the packet it delivers.
    if (packet && offset) packet.data.push(offset);
    this.delivered.push({ data: packet?.data ?? [], ...(offset ? { offset } : {}) });
  }
  async restoreSession(pid: string, offset: string) {
    this.restores.push([pid, offset]);
    return { sid: 's', pid, rooms: ['room:a', 'user:u'], data: {}, missedPackets: this.tail };
  }
  close(): void {}
}

function wrapped() {
  let made!: FakeStreamsAdapter;
  const Factory = indexedStreamRecovery(function () {
    return (made = new FakeStreamsAdapter());
  } as never) as unknown as new (nsp: unknown) => FakeStreamsAdapter;
  const adapter = new Factory({});
  return { adapter, inner: made };
}

const broadcast = (
  n: number,
  rooms: string[],
  extra: { ack?: boolean; volatile?: boolean; nsp?: string; type?: number } = {},
): Message => ({
  nsp: extra.nsp ?? '/chat',
  type: 3,
  data: {
    packet: { type: extra.type ?? 2, data: ['e', n], ...(extra.ack ? { id: 1 } : {}) },
    opts: { rooms, except: [], flags: extra.volatile ? { volatile: true } : {} },
    ...(extra.ack ? { requestId: 'r' } : {}),
  },
});

describe.runIf(here)('stream recovery', () => {
  it('restores from what this instance read of the stream, asking the adapter only for the session and the unread tail', async () => {
    const { adapter, inner } = wrapped();
    adapter.onMessage(broadcast(1, ['room:a']), '1-0');
    adapter.onMessage(broadcast(2, ['room:a']), '2-0');
    adapter.onMessage(broadcast(3, ['room:b']), '3-0');
    adapter.onMessage(broadcast(4, []), '4-0');
    adapter.onMessage(broadcast(5, ['user:u']), '5-0');
    // The adapter still delivers each entry, with its offset appended as before.
    expect(inner.delivered.map((d) => d.data)).toEqual([1, 2, 3, 4, 5].map((n) => ['e', n, `${n}-0`]));
    inner.tail = [['e', 6, '6-0']];
    const session = await adapter.restoreSession('p', '1-0');
    expect(inner.restores).toEqual([['p', '5-0']]);
    expect(session!.missedPackets).toEqual([
      ['e', 2, '2-0'],
      ['e', 4, '4-0'],
      ['e', 5, '5-0'],
      ['e', 6, '6-0'],
    ]);
  });

  it('leaves an offset it never read to the adapter, and keeps no packet Socket.IO would not replay', async () => {
    const { adapter, inner } = wrapped();
    adapter.onMessage(broadcast(1, ['room:a'], { ack: true }), '1-0');
    adapter.onMessage(broadcast(2, ['room:a'], { volatile: true }), '2-0');
    adapter.onMessage(broadcast(3, ['room:a'], { nsp: '/other' }), '3-0');
    adapter.onMessage(broadcast(4, ['room:a'], { type: 0 }), '4-0');
    adapter.onMessage({ nsp: '/chat', type: 2 }, '5-0');
    inner.tail = [['e', 9, '9-0']];
    for (const offset of ['1-0', '2-0', '3-0', '4-0', '5-0', '0-1']) {
      const session = await adapter.restoreSession('p', offset);
      expect(inner.restores.at(-1)).toEqual(['p', offset]);
      expect(session!.missedPackets).toEqual([['e', 9, '9-0']]);
    }
  });
});

describe.runIf(here)('packet index', () => {
  it('reads up to a bound, and says so when an offset or the bound is no longer kept', () => {
    const index = new PacketIndex(3);
    for (let n = 1; n <= 5; n++) index.add(`${n}`, ['r'], [], [n]);
    expect(index.latest()).toBe('5');
    expect(index.has('2')).toBe(false);
    expect(index.missed('3', ['r'])).toEqual([[4], [5]]);
    expect(index.missed('3', ['r'], '4')).toEqual([[4]]);
    expect(index.missed('2', ['r'])).toBeUndefined();
    expect(index.missed('3', ['r'], '1')).toBeUndefined();
    index.expire(Date.now() + 1);
    expect(index.latest()).toBeUndefined();
    expect(index.missed('5', ['r'])).toBeUndefined();
  });
});
