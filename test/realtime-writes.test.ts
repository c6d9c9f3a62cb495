import type { Socket as NetSocket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { connect, type ClientSocket } from './helpers/sockets.js';
import { runsClustered } from './helpers/redis.js';

let t: TestApp;
// With Redis, a socket's own emit (`ready`) goes through the adapter's stream first, so it cannot share the CONNECT's flush.
const clustered = runsClustered();
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  sockets.forEach((s) => s.close());
  await t?.close();
});

/** The server side of a user's socket and the TCP socket under its WebSocket, with a count of the writes it makes. */
function serverSide(userId: string) {
  const socket = [...t.app.chat.sockets.values()].find((s) => s.data.auth.userId === userId)!;
  const tcp = (socket.conn.transport as unknown as { socket: { _socket: NetSocket } }).socket._socket;
  const writes = { count: 0 };
  const stream = tcp as unknown as Record<'_write' | '_writev', (...a: unknown[]) => unknown>;
  for (const name of ['_write', '_writev'] as const) {
    const original = stream[name].bind(tcp);
    stream[name] = (...a: unknown[]) => {
      writes.count++;
      return original(...a);
    };
  }
  return { socket, writes };
}

describe('WebSocket writes', () => {
  it('sends the packets engine.io flushes together in one write, every frame intact and in order', async () => {
    // Once 'ready' is in, the server owes this socket nothing, so every write counted below is the burst's.
    const client = await connect(t.baseUrl, await t.token('wanda'), { ready: true });
    sockets.push(client);
    const got: string[] = [];
    const all = new Promise<void>((resolve) => client.on('burst' as never, ((text: string) => got.push(text) === 8 && resolve()) as never));
    const { socket, writes } = serverSide('wanda');
    const texts = Array.from({ length: 8 }, (_, i) => `packet ${i} ${'é✓'.repeat(i * 300)}`);
    // One tick: the eight go out in one flush, one write (engine.io alone: the first packet at once and the other
    // seven after its write, 2 writes; a write per frame makes 8). Emitted locally, as the fan-out does: with session recovery
    // on, a socket's own emit is a broadcast, which the Redis adapter holds for a round trip per packet, and under load
    // those replies come back in separate reads, so the burst would no longer reach engine.io in one tick.
    const local = t.app.chat.local.to(socket.id) as unknown as { emit(...a: unknown[]): void };
    for (const text of texts) local.emit('burst', text);
    await all;
    expect(got).toEqual(texts);
    expect(writes.count).toBe(1);
  });

  it.runIf(!clustered)("sends a connect's CONNECT packet and its `ready` in one flush (one instance)", async () => {
    const flushes: string[][] = [];
    const onFlush = (_socket: unknown, buffer: Array<{ type: string; data?: unknown }>) =>
      flushes.push(buffer.map((p) => String(p.data ?? p.type)));
    t.app.io.engine.on('flush', onFlush);
    try {
      sockets.push(await connect(t.baseUrl, await t.token('walt'), { ready: true }));
    } finally {
      t.app.io.engine.off('flush', onFlush);
    }
    const withConnect = flushes.filter((f) => f.some((d) => d.startsWith('0/chat,')));
    expect(withConnect).toHaveLength(1);
    expect(withConnect[0]!.some((d) => d.startsWith('2/chat,["ready"'))).toBe(true);
  });
});
