import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MessagesRepository } from '../src/messages/messages.repository.js';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { ok, react } from './helpers/changes.js';
import { buildMessages, buildRoom } from './helpers/factories.js';
import { gateFirstRead, meOf, openGates, withoutMe } from './helpers/shared-reads.js';
import { expectProblem } from './helpers/assertions.js';

/**
 * Clients that come back together catch up with the same history pages at once (`after` the last message they
 * held): the asks that arrive while a page's read is under way share the next one. Each caller's access is still
 * checked, each gets their own `reactions[].me`, and nobody is answered from a read that began before they asked.
 */
let t: TestApp;
let members: Client[];
let stranger: Client;
let room: string;
let ids: string[];

const gate = () => gateFirstRead(MessagesRepository.prototype, 'newer');

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '1000000' });
  members = await Promise.all(Array.from({ length: 20 }, (_, i) => t.as(`hist-shared-${i}`)));
  stranger = await t.as('hist-stranger');
  room = (await buildRoom(members[0]!, { participantIds: members.slice(1).map((_, i) => `hist-shared-${i + 1}`) })).id;
  ids = (await buildMessages(members[0]!, room, 5)).map((m) => m.id);
  ok(await react(members[1]!, ids[1]!, '👍'));
  ok(await react(members[2]!, ids[2]!, '❤️'));
});
afterAll(async () => t?.close());
afterEach(() => {
  openGates();
  vi.restoreAllMocks();
});

describe('GET /rooms/:id/messages?after= asked by many at once', () => {
  it('answers twenty callers from at most a few reads, each with their own reactions; a stranger still gets 404', async () => {
    const { reads, releaseAfter } = gate();
    const asked = Promise.all([
      Promise.all(members.map(async (m) => ok(await m.get(`/rooms/${room}/messages?after=0&limit=50`)))),
      stranger.get(`/rooms/${room}/messages?after=0&limit=50`),
    ]);
    // The first read is held until all twenty-one have asked: the others share the one read after it.
    await releaseAfter(members.length + 1);
    const [pages, refused] = await asked;
    expectProblem(refused, 404, 'NOT_FOUND');
    expect(reads.mock.calls.length).toBeLessThanOrEqual(2);
    expect(pages[0].data.map((m: any) => m.content)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(meOf(pages[1])).toEqual(['m1 👍']);
    expect(meOf(pages[2])).toEqual(['m2 ❤️']);
    for (const page of [pages[0], ...pages.slice(3)]) expect(meOf(page)).toEqual([]);
    for (const page of pages) expect(withoutMe(page)).toEqual(withoutMe(pages[0]));
  });

  it('never answers a caller from a read that began before they asked: their own message is in their page', async () => {
    const { reads, releaseAfter } = gate();
    const [author, other] = [members[0]!, members[3]!];
    const before = other.get(`/rooms/${room}/messages?after=4&limit=50`);
    await vi.waitFor(() => expect(reads).toHaveBeenCalledTimes(1));
    const sent = await author.post(`/rooms/${room}/messages`, { content: 'sent meanwhile' });
    const mine = author.get(`/rooms/${room}/messages?after=4&limit=50`);
    // The author's ask comes while the first read is held.
    await releaseAfter(2);
    expect(sent.status).toBe(201);
    const [theirs, own] = [ok(await before), ok(await mine)];
    expect(theirs.data.map((m: any) => m.content)).toEqual(['m4']);
    expect(own.data.map((m: any) => m.id)).toEqual([ids[4], sent.body.id]);
    expect(reads).toHaveBeenCalledTimes(2);
  });
});
