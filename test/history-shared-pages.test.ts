import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MessagesRepository } from '../src/messages/messages.repository.js';
import { sleep } from '../src/timers.js';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { ok, react } from './helpers/changes.js';
import { buildMessages, buildRoom } from './helpers/factories.js';
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

const newer = MessagesRepository.prototype.newer;
/** Counts the `after` page reads; each answers only once `hold` resolves (a read under way while others arrive). */
function spyReads(hold: () => Promise<void>) {
  return vi.spyOn(MessagesRepository.prototype, 'newer').mockImplementation(async function (
    this: MessagesRepository,
    ...args: Parameters<typeof newer>
  ) {
    const rows = await newer.apply(this, args);
    await hold();
    return rows;
  });
}
const meOf = (page: any) =>
  page.data.flatMap((m: any) => m.reactions.filter((r: any) => r.me).map((r: any) => `${m.content} ${r.emoji}`)).sort();

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
afterEach(() => vi.restoreAllMocks());

describe('GET /rooms/:id/messages?after= asked by many at once', () => {
  it('answers twenty callers from at most a few reads, each with their own reactions; a stranger still gets 404', async () => {
    const reads = spyReads(() => sleep(100));
    const [pages, refused] = await Promise.all([
      Promise.all(members.map(async (m) => ok(await m.get(`/rooms/${room}/messages?after=0&limit=50`)))),
      stranger.get(`/rooms/${room}/messages?after=0&limit=50`),
    ]);
    expectProblem(refused, 404, 'NOT_FOUND');
    // The first ask's read holds 100 ms; the others arrive meanwhile and share the next.
    expect(reads.mock.calls.length).toBeLessThanOrEqual(3);
    expect(pages[0].data.map((m: any) => m.content)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(meOf(pages[1])).toEqual(['m1 👍']);
    expect(meOf(pages[2])).toEqual(['m2 ❤️']);
    for (const page of [pages[0], ...pages.slice(3)]) expect(meOf(page)).toEqual([]);
    const shared = (page: any) => ({
      ...page,
      data: page.data.map((m: any) => ({ ...m, reactions: m.reactions.map((r: any) => ({ ...r, me: false })) })),
    });
    for (const page of pages) expect(shared(page)).toEqual(shared(pages[0]));
  });

  it('never answers a caller from a read that began before they asked: their own message is in their page', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let first = true;
    const reads = spyReads(async () => {
      if (!first) return;
      first = false;
      await gate;
    });
    const [author, other] = [members[0]!, members[3]!];
    const before = other.get(`/rooms/${room}/messages?after=4&limit=50`);
    let mine: Promise<any> | undefined;
    let sent: { status: number; body: any } | undefined;
    try {
      await vi.waitFor(() => expect(reads).toHaveBeenCalledTimes(1));
      sent = await author.post(`/rooms/${room}/messages`, { content: 'sent meanwhile' });
      mine = author.get(`/rooms/${room}/messages?after=4&limit=50`);
      await sleep(50);
    } finally {
      release();
    }
    expect(sent?.status).toBe(201);
    const [theirs, own] = [ok(await before), ok(await mine!)];
    expect(theirs.data.map((m: any) => m.content)).toEqual(['m4']);
    expect(own.data.map((m: any) => m.id)).toEqual([ids[4], sent!.body.id]);
    expect(reads).toHaveBeenCalledTimes(2);
  });
});
