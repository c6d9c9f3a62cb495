import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { connect, record, recordAll, waitFor, type ClientSocket } from './helpers/sockets.js';

let t: TestApp;
let alice: Client;
let bob: Client;
let stranger: Client;
let carol: Client;
let dave: Client;
const sockets: ClientSocket[] = [];

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

async function open(c: Client): Promise<ClientSocket> {
  const s = await connect(t.baseUrl, c.token);
  sockets.push(s);
  return s;
}

beforeAll(async () => {
  t = await startTestApp();
  [alice, bob, stranger, carol, dave] = await Promise.all([t.as('alice'), t.as('bob'), t.as('stranger'), t.as('carol'), t.as('dave')]);
});
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});
afterAll(async () => t?.close());

describe('message_delivered', () => {
  it("tells the sender when a recipient's client acknowledges new_message, once per advance", async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'ticks', participantIds: ['bob'] })).body;
    const other = (await alice.post('/rooms', { type: 'group', name: 'sentinel', participantIds: ['bob'] })).body;
    const a = await open(alice);
    const delivered = record(a, 'message_delivered');
    const strangerHeard = recordAll(await open(stranger));
    // bob's first client acknowledges at once; his second holds its acknowledgement of the same message.
    const b1 = await open(bob);
    const b2 = await open(bob);
    b1.on('new_message', (m, ack) => {
      if (m.chatRoomId === room.id) ack();
    });
    let held: (() => void) | undefined;
    b2.on('new_message', (m, ack) => {
      if (m.chatRoomId === room.id) held = ack;
      else {
        // The late, repeated acknowledgement of seq 1, then (on the same connection, so after it) one that moves.
        held!();
        ack();
      }
    });

    const first = waitFor(a, 'message_delivered', (e) => e.chatRoomId === room.id);
    await alice.post(`/rooms/${room.id}/messages`, { content: 'did you get it?' });
    const event = await first;
    expect(event).toEqual({ chatRoomId: room.id, userId: 'bob', lastDeliveredSeq: 1, deliveredAt: expect.stringMatching(ISO) });
    expect(Object.keys(event).sort()).toEqual(['chatRoomId', 'deliveredAt', 'lastDeliveredSeq', 'userId']);
    // The event says what the stored state says.
    const view = (await alice.get(`/rooms/${room.id}`)).body;
    expect(view.participants.find((p: any) => p.userId === 'bob').lastDeliveredSeq).toBe(1);
    const messages = (await alice.get(`/rooms/${room.id}/messages`)).body.data;
    const receipts = (await alice.get(`/messages/${messages[0].id}/receipts`)).body.data;
    expect(receipts.find((r: any) => r.userId === 'bob').deliveredAt).toBe(event.deliveredAt);

    const sentinel = waitFor(a, 'message_delivered', (e) => e.chatRoomId === other.id);
    await alice.post(`/rooms/${other.id}/messages`, { content: 'sentinel' });
    expect(await sentinel).toMatchObject({ userId: 'bob', lastDeliveredSeq: 1 });
    expect(held).toBeDefined();
    // b2's acknowledgement of seq 1 reached the server before the sentinel's and moved nothing: no second event.
    expect(delivered.filter((e) => e.chatRoomId === room.id)).toEqual([event]);
    expect(strangerHeard).toEqual([]);
  });

  it('announces the highest seq acknowledged, and nothing for an acknowledgement below the watermark', async () => {
    const room = (await alice.post('/rooms', { type: 'direct', participantIds: ['bob'] })).body;
    const other = (await alice.post('/rooms', { type: 'group', name: 'sentinel 2', participantIds: ['bob'] })).body;
    const a = await open(alice);
    const delivered = record(a, 'message_delivered');
    const b = await open(bob);
    const acks: Array<() => void> = [];
    const both = new Promise<void>((resolve) =>
      b.on('new_message', (m, ack) => {
        if (m.chatRoomId !== room.id) {
          // The sentinel: acknowledged after seq 1 below, on the same connection.
          acks[0]!();
          return ack();
        }
        acks.push(ack);
        if (acks.length === 2) resolve();
      }),
    );
    await alice.post(`/rooms/${room.id}/messages`, { content: 'one' });
    await alice.post(`/rooms/${room.id}/messages`, { content: 'two' });
    await both;
    const moved = waitFor(a, 'message_delivered', (e) => e.chatRoomId === room.id);
    acks[1]!();
    expect(await moved).toMatchObject({ userId: 'bob', lastDeliveredSeq: 2 });
    const sentinel = waitFor(a, 'message_delivered', (e) => e.chatRoomId === other.id);
    await alice.post(`/rooms/${other.id}/messages`, { content: 'sentinel' });
    await sentinel;
    expect(delivered.filter((e) => e.chatRoomId === room.id).map((e) => e.lastDeliveredSeq)).toEqual([2]);
    expect((await alice.get(`/rooms/${room.id}`)).body.participants.find((p: any) => p.userId === 'bob').lastDeliveredSeq).toBe(2);
  });

  it('tells only the senders of the messages the move passes (still in the room), not the rest of the room', async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'senders', participantIds: ['bob', 'carol', 'dave', 'stranger'] }))
      .body;
    const side = (await dave.post('/rooms', { type: 'group', name: 'sentinel 3', participantIds: ['bob'] })).body;
    const [a, c, d, s] = [await open(alice), await open(carol), await open(dave), await open(stranger)];
    const heard = { alice: record(a, 'message_delivered'), carol: record(c, 'message_delivered'), dave: record(d, 'message_delivered') };
    const strangerHeard = record(s, 'message_delivered');
    const b = await open(bob);
    const held: Array<() => void> = [];
    const three = new Promise<void>((resolve) =>
      b.on('new_message', (m, ack) => {
        if (m.chatRoomId === side.id) return ack();
        held.push(ack);
        if (held.length === 3) resolve();
      }),
    );
    await carol.post(`/rooms/${room.id}/messages`, { content: 'from carol' }); // seq 1
    await alice.post(`/rooms/${room.id}/messages`, { content: 'from alice' }); // seq 2
    await stranger.post(`/rooms/${room.id}/messages`, { content: 'from a member who then leaves' }); // seq 3
    await three;
    expect((await stranger.patch(`/rooms/${room.id}/participants/stranger/remove`, {})).status).toBe(204);

    const toAlice = waitFor(a, 'message_delivered', (e) => e.chatRoomId === room.id && e.lastDeliveredSeq === 3);
    const toCarol = waitFor(c, 'message_delivered', (e) => e.chatRoomId === room.id && e.lastDeliveredSeq === 3);
    for (const ack of held) ack();
    expect(await toAlice).toMatchObject({ userId: 'bob', lastDeliveredSeq: 3 });
    expect(await toCarol).toMatchObject({ userId: 'bob', lastDeliveredSeq: 3 });
    // Dave sent nothing in the room: after bob's acknowledgement of dave's own message elsewhere, still nothing from it.
    const sentinel = waitFor(d, 'message_delivered', (e) => e.chatRoomId === side.id);
    await dave.post(`/rooms/${side.id}/messages`, { content: 'sentinel' });
    expect(await sentinel).toMatchObject({ userId: 'bob', lastDeliveredSeq: 1 });
    expect(heard.dave.filter((e) => e.chatRoomId === room.id)).toEqual([]);
    expect(strangerHeard).toEqual([]);
    // Bob's own messages were not passed over; the watermark is stored as announced.
    const view = (await alice.get(`/rooms/${room.id}`)).body;
    expect(view.participants.find((p: any) => p.userId === 'bob').lastDeliveredSeq).toBe(3);
  });
});
