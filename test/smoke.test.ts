import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

describe('smoke', () => {
  it('answers health and a full room + message round trip', async () => {
    const health = await fetch(`${t.baseUrl}/health`);
    expect(health.status).toBe(200);
    const alice = await t.as('alice', { name: 'Alice' });
    const bob = await t.as('bob', { name: 'Bob' });
    await bob.get('/rooms');
    const created = await alice.post('/rooms', { type: 'direct', participantIds: ['bob'] });
    expect(created.status).toBe(201);
    const room = created.body;
    const sent = await alice.post(`/rooms/${room.id}/messages`, { content: 'hello bob' });
    expect(sent.status).toBe(201);
    expect(sent.body.seq).toBe(1);
    const list = await bob.get('/rooms');
    expect(list.body.data[0].unreadCount).toBe(1);
    expect(list.body.data[0].lastMessage.content).toBe('hello bob');
    const hist = await bob.get(`/rooms/${room.id}/messages`);
    expect(hist.body.data.map((m: any) => m.content)).toEqual(['hello bob']);
    const read = await bob.patch(`/rooms/${room.id}/read`);
    expect(read.status).toBe(200);
    expect(read.body.lastReadSeq).toBe(1);
    const receipts = await alice.get(`/messages/${sent.body.id}/receipts`);
    expect(receipts.body.data).toHaveLength(2);
  });
});
