import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MessageChangesRepository } from '../src/messages/message-changes.repository.js';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { editMessage, ok, react } from './helpers/changes.js';
import { buildMessages, buildRoom } from './helpers/factories.js';
import { gateFirstRead, meOf, openGates, withoutMe } from './helpers/shared-reads.js';

/**
 * Clients that reconnect together ask for the same change-log pages at once: the asks that arrive while a read is
 * under way share the next one. Each caller still gets their own `reactions[].me`, and their own writes.
 */
let t: TestApp;
let members: Client[];
let room: string;
let ids: string[];

const gate = () => gateFirstRead(MessageChangesRepository.prototype, 'changesAfter');

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '1000000' });
  members = await Promise.all(Array.from({ length: 20 }, (_, i) => t.as(`shared-${i}`)));
  room = (await buildRoom(members[0]!, { participantIds: members.slice(1).map((_, i) => `shared-${i + 1}`) })).id;
  ids = (await buildMessages(members[0]!, room, 5)).map((m) => m.id);
  ok(await react(members[1]!, ids[1]!, '👍'));
  ok(await react(members[2]!, ids[2]!, '❤️'));
  ok(await react(members[2]!, ids[1]!, '👍'));
});
afterAll(async () => t?.close());
afterEach(() => {
  openGates();
  vi.restoreAllMocks();
});

describe('GET /rooms/:id/changes asked by many at once', () => {
  it('answers twenty callers from at most a few reads, each with their own reactions', async () => {
    const { reads, releaseAfter } = gate();
    const asked = Promise.all(members.map(async (m) => ok(await m.get(`/rooms/${room}/changes?after=0&limit=50`))));
    // The first read is held until all twenty have asked: the others share the one read after it.
    await releaseAfter(members.length);
    const pages = await asked;
    expect(reads.mock.calls.length).toBeLessThanOrEqual(2);
    expect(meOf(pages[1])).toEqual(['m1 👍']);
    expect(meOf(pages[2])).toEqual(['m1 👍', 'm2 ❤️']);
    for (const page of [pages[0], ...pages.slice(3)]) expect(meOf(page)).toEqual([]);
    // Apart from `me`, every caller got the same page: every message, the counts, the position.
    for (const page of pages) expect(withoutMe(page)).toEqual(withoutMe(pages[0]));
    // In change order: the reacted messages last.
    expect(pages[0].data.map((m: any) => m.content)).toEqual(['m0', 'm3', 'm4', 'm2', 'm1']);
    expect(pages[0].data.at(-1).reactions).toEqual([{ emoji: '👍', count: 2, me: false }]);
  });

  it('never answers a caller from a read that began before they asked: their own edit is in their page', async () => {
    const { reads, releaseAfter } = gate();
    const [author, other] = [members[0]!, members[3]!];
    const before = other.get(`/rooms/${room}/changes?after=0&limit=50`);
    await vi.waitFor(() => expect(reads).toHaveBeenCalledTimes(1));
    ok(await editMessage(author, ids[4]!, { content: 'm4, edited' }));
    const mine = author.get(`/rooms/${room}/changes?after=0&limit=50`);
    // The author's ask comes while the first read is held.
    await releaseAfter(2);
    const [theirs, own] = [ok(await before), ok(await mine)];
    expect(own.data.at(-1)).toMatchObject({ id: ids[4], content: 'm4, edited' });
    expect(own.lastChangeSeq).toBe(theirs.lastChangeSeq + 1);
    expect(theirs.data.find((m: any) => m.id === ids[4])).toMatchObject({ content: 'm4' });
    expect(reads).toHaveBeenCalledTimes(2);
  });
});
