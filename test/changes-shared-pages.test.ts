import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MessageChangesRepository } from '../src/messages/message-changes.repository.js';
import { sleep } from '../src/timers.js';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { editMessage, ok, react } from './helpers/changes.js';
import { buildMessages, buildRoom } from './helpers/factories.js';

/**
 * Clients that reconnect together ask for the same change-log pages at once: the asks that arrive while a read is
 * under way share the next one. Each caller still gets their own `reactions[].me`, and their own writes.
 */
let t: TestApp;
let members: Client[];
let room: string;
let ids: string[];

const read = MessageChangesRepository.prototype.changesAfter;
/** Counts the change-log reads; each answers only once `hold` resolves (a read under way while others arrive). */
function spyReads(hold: () => Promise<void>) {
  return vi.spyOn(MessageChangesRepository.prototype, 'changesAfter').mockImplementation(async function (
    this: MessageChangesRepository,
    ...args: Parameters<typeof read>
  ) {
    const found = await read.apply(this, args);
    await hold();
    return found;
  });
}
const meOf = (page: any) =>
  page.data.flatMap((m: any) => m.reactions.filter((r: any) => r.me).map((r: any) => `${m.content} ${r.emoji}`)).sort();

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
afterEach(() => vi.restoreAllMocks());

describe('GET /rooms/:id/changes asked by many at once', () => {
  it('answers twenty callers from at most a few reads, each with their own reactions', async () => {
    const reads = spyReads(() => sleep(100));
    const pages = await Promise.all(members.map(async (m) => ok(await m.get(`/rooms/${room}/changes?after=0&limit=50`))));
    // The first ask's read holds 100 ms; the other nineteen arrive meanwhile and share the next.
    expect(reads.mock.calls.length).toBeLessThanOrEqual(3);
    expect(meOf(pages[1])).toEqual(['m1 👍']);
    expect(meOf(pages[2])).toEqual(['m1 👍', 'm2 ❤️']);
    for (const page of [pages[0], ...pages.slice(3)]) expect(meOf(page)).toEqual([]);
    // Apart from `me`, every caller got the same page: every message, the counts, the position.
    const shared = (page: any) => ({
      ...page,
      data: page.data.map((m: any) => ({ ...m, reactions: m.reactions.map((r: any) => ({ ...r, me: false })) })),
    });
    for (const page of pages) expect(shared(page)).toEqual(shared(pages[0]));
    // In change order: the reacted messages last.
    expect(pages[0].data.map((m: any) => m.content)).toEqual(['m0', 'm3', 'm4', 'm2', 'm1']);
    expect(pages[0].data.at(-1).reactions).toEqual([{ emoji: '👍', count: 2, me: false }]);
  });

  it('never answers a caller from a read that began before they asked: their own edit is in their page', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let first = true;
    const reads = spyReads(async () => {
      if (!first) return;
      first = false;
      await gate;
    });
    const [author, other] = [members[0]!, members[3]!];
    const before = other.get(`/rooms/${room}/changes?after=0&limit=50`);
    await vi.waitFor(() => expect(reads).toHaveBeenCalledTimes(1));
    ok(await editMessage(author, ids[4]!, { content: 'm4, edited' }));
    const mine = author.get(`/rooms/${room}/changes?after=0&limit=50`);
    await sleep(50);
    release();
    const [theirs, own] = [ok(await before), ok(await mine)];
    expect(own.data.at(-1)).toMatchObject({ id: ids[4], content: 'm4, edited' });
    expect(own.lastChangeSeq).toBe(theirs.lastChangeSeq + 1);
    expect(theirs.data.find((m: any) => m.id === ids[4])).toMatchObject({ content: 'm4' });
    expect(reads).toHaveBeenCalledTimes(2);
  });
});
