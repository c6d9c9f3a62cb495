import type { MessageView } from '../../src/contract/messages.js';
import type { RoomPageView, RoomView } from '../../src/contract/rooms.js';
import { inParallel, UserApi } from './api.js';
import { landscape } from './images.js';
import {
  messageCounts,
  participantsOf,
  planRoom,
  ROOMS,
  unreadFor,
  USERS,
  type DemoUser,
  type PlannedMessage,
  type RoomSpec,
} from './plan.js';
import { Progress } from './progress.js';

export interface SeedOptions {
  /** Where the service answers, e.g. http://127.0.0.1:3000. */
  baseUrl: string;
  /** Signs a token for a demo user, as `npm run token` does. */
  mint(user: DemoUser): Promise<string>;
  /** Messages in all, spread over the rooms (each room gets a few at least). */
  messages?: number;
  /** Where progress goes; null: nowhere. */
  out?: { write(text: string): unknown; isTTY?: boolean } | null;
}

export interface SeedSummary {
  rooms: { total: number; created: number };
  messages: { total: number; created: number };
  /** Reactions, edits, deletes, pins, read positions, staff joining and closing support rooms. */
  changes: number;
  /** Every write the seed made: 0 on a run that found everything in place. */
  writes: number;
}

export const DEFAULT_MESSAGES = 3000;
/** Requests in flight at once: enough to keep the service busy, few enough not to starve a small machine. */
const PARALLEL = 8;

interface SeededRoom {
  spec: RoomSpec;
  room: RoomView;
  plan: PlannedMessage[];
  /** The stored message of each planned one, by plan index. */
  stored: Array<MessageView | undefined>;
}

/** Makes whatever of the demo data is missing, through the public API, and tells what it did. */
export async function seed(opts: SeedOptions): Promise<SeedSummary> {
  const progress = new Progress(opts.out === undefined ? process.stdout : opts.out);
  const counts = messageCounts(opts.messages ?? DEFAULT_MESSAGES);

  const apis = new Map<string, UserApi>();
  for (const user of USERS) apis.set(user.id, new UserApi(opts.baseUrl, user.id, await opts.mint(user)));
  const as = (userId: string) => apis.get(userId)!;
  // A read is enough for the service to keep each person's name (and role) from their token.
  await inParallel(USERS, PARALLEL, (u) => as(u.id).get('/me'));

  progress.start('Rooms', ROOMS.length);
  let roomsCreated = 0;
  let changes = 0;
  const listed = new Map<string, Promise<RoomView[]>>();
  const roomsOf = (userId: string) => {
    if (!listed.has(userId)) listed.set(userId, listRooms(as(userId)));
    return listed.get(userId)!;
  };
  const rooms = await Promise.all(
    ROOMS.map(async (spec): Promise<SeededRoom> => {
      let room = (await roomsOf(spec.creator)).find((r) => matches(spec, r));
      if (!room) {
        room = await as(spec.creator).call<RoomView>('POST', '/rooms', createBody(spec));
        roomsCreated++;
      }
      if (spec.type === 'support') {
        for (const staff of spec.members.filter((id) => !room!.participants.some((p) => p.userId === id))) {
          room = await as(staff).call<RoomView>('POST', `/rooms/${room.id}/participants`, { userId: staff });
          changes++;
        }
      }
      const plan = planRoom(spec, counts.get(spec.key)!);
      const stored = await storedMessages(as(spec.creator), room, plan);
      progress.tick();
      return { spec, room, plan, stored };
    }),
  );
  progress.finish(roomsCreated ? `(${roomsCreated} new)` : '(all there already)');

  const missing = rooms.reduce((n, r) => n + r.stored.filter((m) => !m).length, 0);
  progress.start('Messages', missing);
  // Rooms side by side, each room's messages in order: a reply's parent is stored before it, and seq follows the plan.
  await Promise.all(
    rooms.map(async (r) => {
      for (const m of r.plan) {
        if (r.stored[m.index]) continue;
        r.stored[m.index] = await send(as(m.sender), r, m);
        progress.tick();
      }
    }),
  );
  progress.finish(`new (${rooms.reduce((n, r) => n + r.plan.length, 0)} in the plan)`);

  const ops = rooms.flatMap((r) => r.plan.flatMap((m) => changesOf(r, m, as)));
  progress.start('Reactions, edits, pins, deletes', ops.length);
  await inParallel(ops, PARALLEL, async (op) => {
    await op();
    progress.tick();
  });
  progress.finish();
  changes += ops.length;

  const later = await Promise.all(rooms.map((r) => readsAndClosing(r, as)));
  progress.start('Read positions, closed rooms', later.flat().length);
  await inParallel(later.flat(), PARALLEL, async (op) => {
    await op();
    progress.tick();
  });
  progress.finish();
  changes += later.flat().length;

  return {
    rooms: { total: rooms.length, created: roomsCreated },
    messages: { total: rooms.reduce((n, r) => n + r.plan.length, 0), created: missing },
    changes,
    writes: [...apis.values()].reduce((n, api) => n + api.writes, 0),
  };
}

async function listRooms(api: UserApi): Promise<RoomView[]> {
  const all: RoomView[] = [];
  let cursor: string | null = null;
  do {
    const page: RoomPageView = await api.get(`/rooms?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    all.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

/** The demo room already made by an earlier run (or, for a direct room, the pair's room, however it was made). */
function matches(spec: RoomSpec, room: RoomView): boolean {
  if (room.type !== spec.type) return false;
  if (spec.type === 'direct') return room.participants.some((p) => p.userId === spec.members[0]);
  return room.createdBy === spec.creator && room.name === (spec.name ?? null);
}

function createBody(spec: RoomSpec): Record<string, unknown> {
  return {
    type: spec.type,
    ...(spec.type === 'support' ? {} : { participantIds: spec.members }),
    ...(spec.name !== undefined ? { name: spec.name } : {}),
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    ...(spec.businessId !== undefined ? { businessId: spec.businessId } : {}),
  };
}

/** What an earlier run stored of this room's plan, found by clientMessageId in the room's change log. */
async function storedMessages(api: UserApi, room: RoomView, plan: PlannedMessage[]): Promise<Array<MessageView | undefined>> {
  const stored = Array.from({ length: plan.length }, (): MessageView | undefined => undefined);
  if (room.lastSeq === 0) return stored;
  const index = new Map(plan.map((m) => [m.clientMessageId, m.index]));
  for (let after = 0, more = true; more;) {
    const page = await api.get<{ data: MessageView[]; lastChangeSeq: number; hasMore: boolean }>(
      `/rooms/${room.id}/changes?after=${after}&limit=200`,
    );
    for (const m of page.data) {
      const i = m.clientMessageId === null ? undefined : index.get(m.clientMessageId);
      if (i !== undefined) stored[i] = m;
    }
    more = page.hasMore;
    after = page.data.at(-1)?.changeSeq ?? page.lastChangeSeq;
  }
  return stored;
}

async function send(api: UserApi, r: SeededRoom, m: PlannedMessage): Promise<MessageView> {
  const replyToId = m.replyTo === undefined ? undefined : r.stored[m.replyTo]!.id;
  const path = `/rooms/${r.room.id}/messages`;
  if (m.image === undefined) {
    return api.call('POST', path, {
      content: m.content,
      clientMessageId: m.clientMessageId,
      ...(replyToId ? { replyToId } : {}),
      ...(m.mentions ? { mentions: m.mentions } : {}),
    });
  }
  const form = new FormData();
  form.append('content', m.content);
  form.append('clientMessageId', m.clientMessageId);
  form.append('media', new Blob([new Uint8Array(await landscape(m.image))], { type: 'image/jpeg' }), `photo-${m.index + 1}.jpg`);
  return api.call('POST', path, form);
}

type Op = () => Promise<void>;

/** The changes a planned message still lacks: its edit, delete, reactions and pin, each by someone allowed to make it. */
function changesOf(r: SeededRoom, m: PlannedMessage, as: (userId: string) => UserApi): Op[] {
  const msg = r.stored[m.index]!;
  if (msg.deletedAt) return [];
  // The stored sender, not the planned one: a run with another --messages may have planned this message for someone else.
  const { id, senderId } = msg;
  const ops: Op[] = [];
  if (m.deleted) return [() => as(senderId).call('DELETE', `/messages/${id}`)];
  if (m.editTo !== undefined && msg.editedAt === null) ops.push(() => as(senderId).call('PATCH', `/messages/${id}`, { content: m.editTo }));
  for (const reaction of m.reactions) {
    const have = msg.reactions.find((x) => x.emoji === reaction.emoji)?.count ?? 0;
    if (have >= reaction.users.length) continue;
    // Each PUT is idempotent: the users who reacted in a run cut short simply react again.
    for (const user of reaction.users)
      ops.push(() => as(user).call('PUT', `/messages/${id}/reactions/${encodeURIComponent(reaction.emoji)}`));
  }
  const pinner = r.spec.type === 'group' || r.spec.type === 'business' ? r.spec.creator : senderId;
  if (m.pinned && msg.pinnedAt === null) ops.push(() => as(pinner).call('PUT', `/rooms/${r.room.id}/pins/${id}`));
  return ops;
}

/**
 * Read positions that make unread counts look lived-in: each participant has read up to their planned number of the
 * room's newest messages (reading never goes back, so a position already past it stays). Then support rooms that are
 * over are closed.
 */
async function readsAndClosing(r: SeededRoom, as: (userId: string) => UserApi): Promise<Op[]> {
  const room = await as(r.spec.creator).get<RoomView>(`/rooms/${r.room.id}`);
  const last = Math.max(...r.stored.map((m) => m!.seq));
  // Not a tombstone: a read position names a message people can see.
  const readable = r.plan.filter((m) => !m.deleted && !r.stored[m.index]!.deletedAt).map((m) => r.stored[m.index]!);
  const ops: Op[] = [];
  for (const userId of participantsOf(r.spec)) {
    const position = room.participants.find((p) => p.userId === userId)?.lastReadSeq ?? 0;
    const target = readable.filter((m) => m.seq <= last - unreadFor(r.spec, userId)).at(-1);
    if (target && target.seq > position) ops.push(() => as(userId).call('PATCH', `/messages/${target.id}/read`));
  }
  if (r.spec.close && room.status === 'open') ops.push(() => as(r.spec.creator).call('PATCH', `/rooms/${room.id}`, { status: 'closed' }));
  return ops;
}
