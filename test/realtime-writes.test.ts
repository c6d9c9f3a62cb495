import type { Socket as NetSocket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { connect, type ClientSocket } from './helpers/sockets.js';

let t: TestApp;
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
    // One tick: the first packet goes at once, the other seven wait in engine.io's buffer for its write and then go
    // together: 2 writes, where a write per frame makes 8. Emitted locally, as the fan-out does: with session recovery
    // on, a socket's own emit is a broadcast, which the Redis adapter holds for a round trip per packet, and under load
    // those replies come back in separate reads, so the burst would no longer reach engine.io in one tick.
    const local = t.app.chat.local.to(socket.id) as unknown as { emit(...a: unknown[]): void };
    for (const text of texts) local.emit('burst', text);
    await all;
    expect(got).toEqual(texts);
    expect(writes.count).toBe(2);
  });
});
