import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Client, Res } from './helpers/app.js';
import { del, editMessage, fullHistory, getRoom, pin, react, unpin, unreact } from './helpers/changes.js';
import { buildMessages, buildRoom } from './helpers/factories.js';
import {
  ClientPool,
  comparable,
  converged,
  eventually,
  historyOf,
  settle,
  sleep,
  startSdkApp,
  watchStates,
  type SdkApp,
  type SdkRoom,
} from './helpers/sdk.js';
import { random } from './helpers/random.js';

const pool = new ClientPool();
afterEach(async () => pool.closeAll());

/**
 * The suite runs twice (PGlite, then PostgreSQL + Redis): the full 60 s cut runs on PostgreSQL only; on PGlite the
 * same 2,000 changes are made behind a cut of at least 15 s (as long as the writes take, if longer).
 */
const ENGINE = inject('template').kind;
const CUT_MS = ENGINE === 'postgres' ? 60_000 : 15_000;
const CHANGES = 2000;
/** One batch, its requests in flight together: 8 sends, 4 edits, 2 deletes, 5 reactions added or removed, 1 pin or unpin. */
const BATCH = { send: 8, edit: 4, delete: 2, reaction: 5, pin: 1 };
const BATCH_SIZE = Object.values(BATCH).reduce((a, b) => a + b, 0);
const EMOJI = ['👍', '❤️', '🎉', '😂', '🙏', ':ship_it:'];

/**
 * Another user's writes, in batches of concurrent requests. What it has done so far decides what it may do next, so
 * every request is one that changes something (each gets a changeSeq): no edit of a tombstone, no reaction twice.
 * Within a batch, each message is the target of one request at most (a delete racing an edit would refuse one).
 */
class Writer {
  private readonly rand = random(13);
  private readonly live: string[];
  private readonly reacted = new Map<string, Set<string>>();
  private readonly pinned = new Set<string>();
  private sent = 0;
  readonly refused: string[] = [];

  constructor(
    private readonly bob: Client,
    private readonly roomId: string,
    ids: string[],
  ) {
    this.live = [...ids];
  }

  async batch(): Promise<void> {
    const targets = this.shuffled();
    const take = () => targets.pop()!;
    const ops: Array<Promise<void>> = [];
    const fresh: string[] = [];
    for (let i = 0; i < BATCH.send; i++) {
      const n = this.sent++;
      ops.push(
        this.expect(201, `send ${n}`, this.bob.post(`/rooms/${this.roomId}/messages`, { content: `away ${n}` }), (m) => fresh.push(m.id)),
      );
    }
    for (let i = 0; i < BATCH.edit; i++) {
      const id = take();
      ops.push(this.expect(200, `edit ${id}`, editMessage(this.bob, id, { content: `edited ${id.slice(-6)} ${this.rand()}` })));
    }
    for (let i = 0; i < BATCH.delete; i++) {
      const id = take();
      this.live.splice(this.live.indexOf(id), 1);
      this.reacted.delete(id);
      this.pinned.delete(id);
      ops.push(this.expect(200, `delete ${id}`, del(this.bob, `/messages/${id}`)));
    }
    for (let i = 0; i < BATCH.reaction; i++) ops.push(this.reaction(take()));
    for (let i = 0; i < BATCH.pin; i++) ops.push(this.pinToggle(targets));
    await Promise.all(ops);
    this.live.push(...fresh);
  }

  private reaction(id: string): Promise<void> {
    const mine = this.reacted.get(id) ?? new Set<string>();
    this.reacted.set(id, mine);
    const emoji = EMOJI[Math.floor(this.rand() * EMOJI.length)]!;
    if (mine.has(emoji)) {
      mine.delete(emoji);
      return this.expect(200, `unreact ${id} ${emoji}`, unreact(this.bob, id, emoji));
    }
    mine.add(emoji);
    return this.expect(200, `react ${id} ${emoji}`, react(this.bob, id, emoji));
  }

  /** Pins until 30 are pinned, then mostly unpins; a message pinned here is not the target of anything else in the batch. */
  private pinToggle(targets: string[]): Promise<void> {
    const unpinning = this.pinned.size >= 30 || (this.pinned.size > 0 && this.rand() < 0.3);
    const candidates = targets.filter((id) => this.pinned.has(id) === unpinning);
    const id = candidates[0];
    if (id === undefined) return this.reaction(targets.pop()!);
    targets.splice(targets.indexOf(id), 1);
    if (unpinning) {
      this.pinned.delete(id);
      return this.expect(200, `unpin ${id}`, unpin(this.bob, this.roomId, id));
    }
    this.pinned.add(id);
    return this.expect(200, `pin ${id}`, pin(this.bob, this.roomId, id));
  }

  private shuffled(): string[] {
    const out = [...this.live];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.rand() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  private async expect(status: number, what: string, res: Promise<Res>, then?: (body: any) => void): Promise<void> {
    const r = await res;
    if (r.status !== status) this.refused.push(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
    else then?.(r.body);
  }
}

/** The room's change-log position, as another participant reads it. */
const lastChangeSeq = async (c: Client, roomId: string): Promise<number> => (await getRoom(c, roomId)).lastChangeSeq;

/**
 * A room of 40 messages by bob (one page: the client holds the whole history from seq 1, so it can be compared with
 * all of it), open and live in alice's client, ten of them with a reaction of alice's own.
 */
async function followedRoom(s: SdkApp) {
  const alice = await s.t.as('long-alice');
  const bob = await s.t.as('long-bob');
  const roomId = (await buildRoom(bob, { participantIds: [alice.userId] })).id;
  const before = await buildMessages(bob, roomId, 40);
  const client = pool.make(s.url, alice.token);
  const ref: { room?: SdkRoom } = {};
  const watched = watchStates(client, () => ref.room);
  await client.connect();
  const room = (ref.room = await client.openRoom(roomId));
  // `me` must survive what the other user does to the same messages with the same emoji.
  for (const m of before.slice(0, 10)) await room.react(m.id, EMOJI[0]!);
  await converged(room, historyOf(alice, roomId));
  return { alice, bob, roomId, ids: before.map((m) => m.id), client, room, ...watched };
}

/** bob's 2,000 changes; every request one change, so the log moves by exactly that many. */
async function changeWhileAway(bob: Client, roomId: string, ids: string[]): Promise<void> {
  const startSeq = await lastChangeSeq(bob, roomId);
  const writer = new Writer(bob, roomId, ids);
  for (let done = 0; done < CHANGES; done += BATCH_SIZE) await writer.batch();
  expect(writer.refused).toEqual([]);
  expect((await lastChangeSeq(bob, roomId)) - startSeq).toBe(CHANGES);
}

/** Catching up between offline and live, and at that 'live' every missed change already applied. */
function expectHonestCatchUp(states: string[], atLive: unknown[][], liveBefore: number, missed: any[]): void {
  const after = states.slice(states.lastIndexOf('offline'));
  expect(after).toContain('catching_up');
  expect(after.indexOf('catching_up')).toBeLessThan(after.lastIndexOf('live'));
  expect(atLive.length).toBeGreaterThan(liveBefore);
  const firstLive = new Map((atLive[liveBefore] as any[]).map((m) => [m.id, m]));
  expect(missed.map((m) => firstLive.get(m.id))).toEqual(missed.map(comparable));
}

const queuedContent = Array.from({ length: 5 }, (_, i) => `queued ${i}`);

describe(`a ${CUT_MS / 1000} s cut (${ENGINE})`, () => {
  it(
    `converges exactly after ${CHANGES} changes by another user while cut off; 5 queued sends stored once, in order`,
    async () => {
      const s = await startSdkApp();
      try {
        const { alice, bob, roomId, ids, client, room, states, atLive } = await followedRoom(s);
        await s.proxy.cut();
        const cutAt = Date.now();
        await eventually(() => client.state === 'offline', 10_000, 'offline after the cut');
        const queued = queuedContent.map((content) => settle(room.send({ content })));
        expect(room.messages.slice(-5).map((m: any) => [m.pending, m.seq, m.content])).toEqual(queuedContent.map((c) => [true, null, c]));

        await changeWhileAway(bob, roomId, ids);
        const missed = await fullHistory(alice, roomId);
        expect(missed.filter((m) => m.deletedAt !== null)).toHaveLength((CHANGES / BATCH_SIZE) * BATCH.delete);
        await sleep(Math.max(0, CUT_MS - (Date.now() - cutAt)));
        expect(client.state).toBe('offline');
        expect((await fullHistory(alice, roomId)).some((m) => m.content.startsWith('queued'))).toBe(false);
        const liveBefore = atLive.length;
        await s.proxy.restore();
        // API.md: after the network returns, the client reconnects within 5 s (the slack is for a loaded CI machine).
        await eventually(() => client.state !== 'offline', 8_000, 'reconnected within 5 s of the link returning');

        const results = await Promise.all(queued);
        await eventually(() => client.state === 'live', 30_000, 'live after the link returned');
        const server = await converged(room, historyOf(alice, roomId), 60_000);

        // Stored once each, in the order made, after everything missed, and resolved with the stored messages.
        const stored = server.filter((m) => m.content.startsWith('queued '));
        expect(stored.map((m) => m.content)).toEqual(queuedContent);
        expect(stored.map((m) => m.seq)).toEqual(server.slice(-5).map((m) => m.seq));
        expect(results.map((r) => (r.ok ? (r.value as any).id : r.error))).toEqual(stored.map((m) => m.id));
        expect(new Set(room.messages.map((m: any) => m.id)).size).toBe(room.messages.length);
        expect(server.map((m) => m.seq)).toEqual(server.map((_, i) => i + 1));
        expectHonestCatchUp(states, atLive, liveBefore, missed);
      } finally {
        await pool.closeAll();
        await s.close();
      }
    },
    CUT_MS + 180_000,
  );
});
