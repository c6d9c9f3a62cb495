import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChatError, ClientPool, eventually, startSdkApp, type SdkApp } from './helpers/sdk.js';

let s: SdkApp;
const pool = new ClientPool();

beforeAll(async () => {
  s = await startSdkApp();
});
afterEach(async () => pool.closeAll());
afterAll(async () => s?.close());

const live = (userId: string, claims: { role?: 'support' } = {}) => pool.live(s, userId, claims);

const ids = () => {
  const n = Math.random().toString(36).slice(2, 8);
  return { a: `api-a-${n}`, b: `api-b-${n}`, c: `api-c-${n}` };
};

describe('client.api: everything beyond a room timeline, through the SDK', () => {
  it('creates rooms that appear in client.rooms at once, and answers the existing direct room for the same pair', async () => {
    const { a, b } = ids();
    const { client } = await live(a);
    const room = await client.api.createRoom({ type: 'direct', participantIds: [b] });
    expect(client.rooms.map((r) => r.id)).toContain(room.id);
    const again = await client.api.createRoom({ type: 'direct', participantIds: [b] });
    expect(again.id).toBe(room.id);
    expect(client.rooms.filter((r) => r.id === room.id)).toHaveLength(1);
  });

  it('renames, adds, mutes and leaves a group; leaving takes the room out of client.rooms', async () => {
    const { a, b, c } = ids();
    const { client } = await live(a);
    const group = await client.api.createRoom({ type: 'group', participantIds: [b], name: 'Team' });
    const renamed = await client.api.updateRoom(group.id, { name: 'Team two' });
    expect(renamed.name).toBe('Team two');
    expect(client.rooms.find((r) => r.id === group.id)?.name).toBe('Team two');
    const added = await client.api.addParticipants(group.id, [c]);
    expect(added.participants.map((p) => p.userId).sort()).toEqual([a, b, c].sort());
    const muted = await client.api.setMuted(group.id, true);
    expect(muted.muted).toBe(true);
    expect(await client.api.removeParticipant(group.id, a)).toBeNull();
    expect(client.rooms.some((r) => r.id === group.id)).toBe(false);
  });

  it('searches, reads a message, its receipts and the pins, with the server refusal codes as ChatError', async () => {
    const { a, b } = ids();
    const { client, rest } = await live(a);
    const room = await client.api.createRoom({ type: 'direct', participantIds: [b] });
    const opened = await client.openRoom(room.id);
    const sent = await opened.send({ content: 'the quarterly zebra report' });
    await opened.pin(sent.id);
    await eventually(async () => (await client.api.search({ q: 'zebra' })).data.length === 1, 10_000, 'search hit');
    const hits = await client.api.search({ q: 'zebra' });
    expect(hits.data[0]!.message.id).toBe(sent.id);
    expect(hits.data[0]!.highlight.snippet).toContain('zebra');
    expect((await client.api.message(sent.id)).content).toBe('the quarterly zebra report');
    expect((await client.api.receipts(sent.id)).data.map((r) => r.userId).sort()).toEqual([a, b].sort());
    expect((await client.api.pins(room.id)).data.map((m) => m.id)).toEqual([sent.id]);
    const err = await client.api.updateRoom(room.id, { name: 'no' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChatError);
    // A direct room has no name to change: the server's 400 reaches the caller as its code.
    expect((err as ChatError).code).toBe('VALIDATION_FAILED');
    expect((err as ChatError).status).toBe(400);
    const missing = await client.api.getRoom('0190a3c4-0000-7000-8000-000000000000').catch((e: unknown) => e);
    expect((missing as ChatError).code).toBe('NOT_FOUND');
    expect(rest.userId).toBe(a);
  });

  it('gives staff the support queue, and a user their profile settings', async () => {
    const { a, b } = ids();
    const { client: customer } = await live(a);
    const support = await customer.api.createRoom({ type: 'support' });
    const { client: staff } = await live(b, { role: 'support' });
    const queue = await staff.api.supportQueue();
    expect(queue.data.map((r) => r.id)).toContain(support.id);
    const denied = await customer.api.supportQueue().catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(ChatError);
    expect((await customer.api.updateMe({ showPresence: false })).showPresence).toBe(false);
    expect((await customer.api.me()).showPresence).toBe(false);
  });
});
