import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestApp, type Client, type Res, type TestApp } from './helpers/app.js';
import {
  deleteMessage as remove,
  expectChangeIndexWhole,
  fullHistory as history,
  okOf as ok,
  pin as pinOn,
  react,
  unpin,
  unreact,
} from './helpers/changes.js';
import { buildMessages, buildRoom } from './helpers/factories.js';
import { random } from './helpers/random.js';

let t: TestApp;
let alice: Client, bob: Client, carol: Client;
let users: Client[];

// 10k changes from zero on PostgreSQL; PGlite (one in-process connection) makes 2k in the time PostgreSQL makes 10k.
const MANY = inject('template').kind === 'postgres' ? 10_000 : 2_000;
const EMOJI = ['👍', '🎉', '❤️', ':+1:', '🇫🇷', '👍🏽'];

const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

const send = (c: Client, roomId: string, content: string) => c.post(`/rooms/${roomId}/messages`, { content });
const edit = (c: Client, id: string, content: string) => c.patch(`/messages/${id}`, { content });
const reaction = (c: Client, id: string, emoji: string, on: boolean) => (on ? react : unreact)(c, id, emoji);
const pin = (roomId: string, id: string, on: boolean) => (on ? pinOn : unpin)(alice, roomId, id);

/** What a client keeps: messages by id, each applied by upsert keeping the higher changeSeq, and its log position. */
class Replica {
  readonly messages = new Map<string, any>();
  constructor(
    readonly client: Client,
    private readonly roomId: string,
    public position: number,
  ) {}

  apply(m: any): void {
    const held = this.messages.get(m.id);
    if (!held || held.changeSeq < m.changeSeq) this.messages.set(m.id, m);
  }

  /** One page from the current position; true while the log has more. Checks the page against the contract. */
  async page(limit: number): Promise<boolean> {
    const page = await ok(this.client.get(`/rooms/${this.roomId}/changes?after=${this.position}&limit=${limit}`));
    const seqs: number[] = page.data.map((m: any) => m.changeSeq);
    for (const [i, s] of seqs.entries()) {
      if (s <= this.position || s > page.lastChangeSeq || (i > 0 && s <= seqs[i - 1]!))
        throw new Error(`page after ${this.position} (lastChangeSeq ${page.lastChangeSeq}) holds changeSeqs ${seqs.join(',')}`);
    }
    page.data.forEach((m: any) => this.apply(m));
    if (!page.hasMore) this.position = page.lastChangeSeq;
    else this.position = seqs.at(-1)!;
    return page.hasMore;
  }

  async catchUp(limit = 100): Promise<void> {
    while (await this.page(limit));
  }
}

/** `replyTo` is a read-time view of the parent (its edits do not touch the reply's changeSeq): compared by replyToId. */
const comparable = (m: any) => ({ ...m, replyTo: undefined });

async function expectConverged(replica: Replica, roomId: string): Promise<void> {
  const server = await history(replica.client, roomId);
  const room = await ok(alice.get(`/rooms/${roomId}`));
  expect(replica.position).toBe(room.lastChangeSeq);
  expect([...replica.messages.keys()].sort()).toEqual(server.map((m) => m.id).sort());
  for (const m of server) expect(comparable(replica.messages.get(m.id))).toEqual(comparable(m));
  // Each message's changeSeq is its latest change, and every change has its own: no two messages share one.
  const seqs = server.map((m) => m.changeSeq);
  expect(new Set(seqs).size).toBe(seqs.length);
  expect(Math.max(...seqs)).toBe(room.lastChangeSeq);
}

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '1000000' });
  [alice, bob, carol] = await Promise.all([t.as('alice'), t.as('bob'), t.as('carol')]);
  users = [alice, bob, carol];
});
afterAll(async () => t?.close());

/**
 * 200 writes of every kind, all in flight at once, from three users. Each must succeed, except a write racing the
 * delete of its own message, which may be refused as not found.
 */
async function mixedBurst(roomId: string, seed: any[], rnd: () => number): Promise<void> {
  const byId: Record<string, Client> = { alice, bob, carol };
  const deleted = new Set<string>();
  const ops: Array<{ target: string | null; run: () => Promise<Res> }> = [];
  for (let i = 0; i < 200; i++) {
    const m = pick(rnd, seed);
    const u = pick(rnd, users);
    const roll = rnd();
    if (roll < 0.25) ops.push({ target: null, run: () => send(u, roomId, `burst ${i}`) });
    else if (roll < 0.4) ops.push({ target: m.id, run: () => edit(byId[m.senderId]!, m.id, `edit ${i}`) });
    else if (roll < 0.46) {
      deleted.add(m.id);
      ops.push({ target: m.id, run: () => remove(alice, m.id) });
    } else if (roll < 0.88) ops.push({ target: m.id, run: () => reaction(u, m.id, pick(rnd, EMOJI), rnd() < 0.7) });
    else ops.push({ target: m.id, run: () => pin(roomId, m.id, rnd() < 0.6) });
  }
  const answers = await Promise.all(ops.map((op) => op.run()));
  answers.forEach((res, i) => {
    const { target } = ops[i]!;
    const expected = target === null ? [201] : deleted.has(target) ? [200, 404] : [200];
    if (!expected.includes(res.status)) throw new Error(`op ${i} on ${target}: ${res.status} ${JSON.stringify(res.body)}`);
  });
}

describe('a client catching up through the change log', () => {
  it('converges after 200 concurrent changes of every kind, whether it pages after them or while they happen', async () => {
    const roomId = (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;
    const seed = [
      ...(await buildMessages(alice, roomId, 10)),
      ...(await buildMessages(bob, roomId, 10)),
      ...(await buildMessages(carol, roomId, 10)),
    ];
    await ok(reaction(bob, seed[0]!.id, '👍', true));
    const n = (await ok(alice.get(`/rooms/${roomId}`))).lastChangeSeq;
    const after = new Replica(bob, roomId, n);
    const during = new Replica(carol, roomId, n);
    for (const r of [after, during]) (await history(r.client, roomId)).forEach((m) => r.apply(m));

    let bursting = true;
    const reader = (async () => {
      while (bursting) await during.page(7);
    })();
    await mixedBurst(roomId, seed, random(12));
    bursting = false;
    await reader;
    await during.catchUp(7);
    await after.catchUp();

    await expectConverged(after, roomId);
    await expectConverged(during, roomId);
    await expectChangeIndexWhole(t, roomId);
  }, 60_000);

  it(`converges from 0 after ${MANY} changes, each of which took exactly one changeSeq`, async () => {
    const roomId = (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;
    const model = await makeManyChanges(roomId, MANY, random(34));
    expect((await ok(alice.get(`/rooms/${roomId}`))).lastChangeSeq).toBe(MANY);

    const replica = new Replica(alice, roomId, 0);
    await replica.catchUp(200);
    await expectConverged(replica, roomId);
    await expectChangeIndexWhole(t, roomId);
    // And the server holds what the writes made: content, tombstones, pins, reaction counts.
    for (const [id, want] of model) {
      const got = replica.messages.get(id);
      const reactions = Object.entries(want.reactions)
        .map(([emoji, who]) => ({ emoji, count: who.size }))
        .filter((r) => r.count > 0)
        .sort((x, y) => (x.emoji < y.emoji ? -1 : 1));
      expect({
        content: got.content,
        deleted: got.deletedAt !== null,
        pinned: got.pinnedAt !== null,
        reactions: got.reactions
          .map((r: any) => ({ emoji: r.emoji, count: r.count }))
          .sort((x: any, y: any) => (x.emoji < y.emoji ? -1 : 1)),
      }).toEqual({
        content: want.deleted ? '' : want.content,
        deleted: want.deleted,
        pinned: want.pinned && !want.deleted,
        reactions: want.deleted ? [] : reactions,
      });
    }
  }, 180_000);
});

interface Modelled {
  sender: Client;
  content: string;
  deleted: boolean;
  pinned: boolean;
  reactions: Record<string, Set<string>>;
}

/**
 * `total` changes that each change something (so each takes one changeSeq): 40 % sends, then batches of writes on
 * distinct messages (so their order within a batch does not matter), all in flight at once. Answers the model.
 */
async function makeManyChanges(roomId: string, total: number, rnd: () => number): Promise<Map<string, Modelled>> {
  const model = new Map<string, Modelled>();
  const BATCH = 200;
  const sends = Math.floor(total * 0.4);
  for (let i = 0; i < sends; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, sends - i) }, (_, j) => ({ sender: users[(i + j) % 3]!, content: `s${i + j}` }));
    const answers = await Promise.all(batch.map((b) => send(b.sender, roomId, b.content)));
    answers.forEach((res, j) => {
      if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(res.body)}`);
      model.set(res.body.id, { ...batch[j]!, deleted: false, pinned: false, reactions: {} });
    });
  }
  let pinned = 0;
  let done = sends;
  let version = 0;
  while (done < total) {
    // Writes of a batch run in any order: an unpin in it may run after a pin, so only room left before it is pinned.
    let pinRoom = 50 - pinned;
    const live = [...model.entries()].filter(([, m]) => !m.deleted);
    const targets = new Set<string>();
    while (targets.size < Math.min(BATCH, total - done, live.length)) targets.add(pick(rnd, live)[0]);
    const runs = [...targets].map((id) => {
      const m = model.get(id)!;
      const roll = rnd();
      if (roll < 0.02) {
        if (m.pinned) pinned--;
        m.deleted = true;
        return remove(alice, id);
      }
      if (roll < 0.07 && (m.pinned || pinRoom > 0)) {
        m.pinned = !m.pinned;
        if (m.pinned) pinRoom--;
        pinned += m.pinned ? 1 : -1;
        return pin(roomId, id, m.pinned);
      }
      if (roll < 0.3) return edit(m.sender, id, (m.content = `v${++version}`));
      const u = pick(rnd, users);
      const emoji = pick(rnd, EMOJI);
      const who = (m.reactions[emoji] ??= new Set());
      const on = !who.has(u.userId);
      if (on) who.add(u.userId);
      else who.delete(u.userId);
      return reaction(u, id, emoji, on);
    });
    const answers = await Promise.all(runs);
    for (const res of answers) if (res.status !== 200) throw new Error(`change: ${res.status} ${JSON.stringify(res.body)}`);
    done += runs.length;
  }
  return model;
}
