import { expect } from 'vitest';
import type { TestApp } from './app.js';

/*
 * A small history with every kind of change, and what clients read of it: for tests that reshape or upgrade the
 * tables under it and expect every answer unchanged.
 */

/** Rooms with history, replies, an edit, a reaction and a pin: what a reshape or an upgrade must carry over unchanged. */
export async function writeHistory(s: TestApp): Promise<string[]> {
  const alice = await s.as('alice');
  const rooms: string[] = [];
  for (let r = 0; r < 5; r++) {
    const room = await alice.post('/rooms', { type: 'group', name: `g${r}`, participantIds: ['bob'] });
    expect(room.status).toBe(201);
    rooms.push(room.body.id);
    let previous: string | undefined;
    for (let i = 1; i <= 6; i++) {
      const sent = await alice.post(`/rooms/${room.body.id}/messages`, {
        content: `partition probe ${r} number ${i}`,
        ...(previous ? { replyToId: previous } : {}),
      });
      expect(sent.status).toBe(201);
      previous = sent.body.id;
    }
  }
  const first = (await alice.get(`/rooms/${rooms[0]}/messages?limit=1&after=0`)).body.data[0];
  expect((await alice.patch(`/messages/${first.id}`, { content: 'partition probe edited' })).status).toBe(200);
  expect((await alice.put(`/messages/${first.id}/reactions/${encodeURIComponent('👍')}`)).status).toBe(200);
  expect((await alice.put(`/rooms/${rooms[0]}/pins/${first.id}`)).status).toBe(200);
  return rooms;
}

/** What clients see: every room's history (with replies, edits, reactions, pins), its changes, a search, one message by id. */
export async function historySnapshot(s: TestApp, rooms: string[]) {
  const alice = await s.as('alice');
  const out: unknown[] = [];
  for (const room of rooms) {
    out.push((await alice.get(`/rooms/${room}/messages?limit=100`)).body);
    out.push((await alice.get(`/rooms/${room}/changes?after=0&limit=100`)).body);
    out.push((await alice.get(`/rooms/${room}/pins`)).body);
  }
  out.push((await alice.get('/messages/search?q=probe&limit=100')).body);
  // The edited and reacted message's earlier version and who reacted (the partitioned dependents).
  const first = (await alice.get(`/rooms/${rooms[0]}/messages?limit=1&after=0`)).body.data[0];
  out.push((await alice.get(`/messages/${first.id}/edits`)).body, (await alice.get(`/messages/${first.id}/reactions`)).body);
  expect((out.at(-2) as { data: unknown[] }).data).toHaveLength(1);
  expect((out.at(-1) as { data: unknown[] }).data).toHaveLength(1);
  out.push((await alice.get(`/rooms`)).body);
  return out;
}
