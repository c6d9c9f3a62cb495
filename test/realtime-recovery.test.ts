import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { connect, sleep, waitFor } from './helpers/sockets.js';

let t: TestApp;
let alice: Client, bob: Client;

beforeAll(async () => {
  t = await startTestApp({ PRESENCE_GRACE_MS: '2000' });
  alice = await t.as('alice');
  bob = await t.as('bob');
});
afterAll(async () => t?.close());

describe('short drops', () => {
  it('recovers the session and replays the messages missed while away, without a presence flap', async () => {
    const room = (await alice.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body;
    const a = await connect(t.baseUrl, alice.token);
    const b = await connect(t.baseUrl, bob.token, { reconnection: true });
    const received: string[] = [];
    b.on('new_message', (m, ack) => {
      received.push(m.content);
      ack();
    });
    await sleep(100); // the 'ready' broadcast gives the client its recovery offset
    const presence: string[] = [];
    a.on('user_offline', (e) => presence.push(`offline:${e.userId}`));
    a.on('user_online', (e) => presence.push(`online:${e.userId}`));
    const first = waitFor(b, 'new_message');
    await alice.post(`/rooms/${room.id}/messages`, { content: 'before' });
    await first;
    await sleep(100); // let the ack reach the server

    const reconnected = new Promise<void>((resolve) => b.io.once('reconnect', () => resolve()));
    // Pause reconnecting long enough for messages to be sent while bob is away.
    b.io.reconnectionDelay(500);
    b.io.engine.close();
    await sleep(100);
    expect(b.connected).toBe(false);
    await alice.post(`/rooms/${room.id}/messages`, { content: 'missed 1' });
    await alice.post(`/rooms/${room.id}/messages`, { content: 'missed 2' });
    await reconnected;
    await sleep(300);
    expect(b.recovered).toBe(true);
    expect(received).toEqual(['before', 'missed 1', 'missed 2']);
    expect(presence).toEqual([]);
    a.close();
    b.close();
  });
});
