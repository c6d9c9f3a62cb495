import type { RoomType } from '../../src/contract/rooms.js';
import type { UserRole } from '../../src/auth/tokens.js';
import { CAPTIONS, CHATTER, EDITS, EMOJI, LINES, MENTION_LINES, REPLIES, type Topic } from './texts.js';

/**
 * The demo data as a pure function of the message count: the same people, rooms and messages every run, so a second run
 * finds everything it would make and makes nothing. Each message has a stable clientMessageId; each room a stable key.
 */

export interface DemoUser {
  id: string;
  name: string;
  role?: UserRole;
  businessIds?: string[];
}

export const USERS: DemoUser[] = [
  { id: 'ada', name: 'Ada Okafor', businessIds: ['northwind'] },
  { id: 'bruno', name: 'Bruno Silva', businessIds: ['northwind'] },
  { id: 'chen', name: 'Chen Wei', businessIds: ['northwind'] },
  { id: 'dana', name: 'Dana Kowalski' },
  { id: 'emeka', name: 'Emeka Obi' },
  { id: 'freya', name: 'Freya Lind', businessIds: ['northwind'] },
  { id: 'gita', name: 'Gita Rao' },
  { id: 'hugo', name: 'Hugo Martin' },
  { id: 'sam', name: 'Sam Rivera', role: 'support' },
  { id: 'morgan', name: 'Morgan Lee', role: 'admin' },
];

/** Who the printed sign-in suggests: the person in most rooms. */
export const DEMO_USER = USERS[0]!;
export const DEMO_STAFF = USERS.find((u) => u.role === 'support')!;

export interface RoomSpec {
  /** Stable: part of every clientMessageId of the room. */
  key: string;
  type: RoomType;
  name?: string;
  description?: string;
  businessId?: string;
  /** Opens the room (owner of a group or business room; the user of a support room). */
  creator: string;
  /** Everyone else in the room; in a support room, the staff who join it. */
  members: string[];
  topic: Topic;
  /** The room's share of the messages. */
  weight: number;
  /** Messages of others that stay unread for these people, so the room list shows real counts. */
  unread?: Record<string, number>;
  /** A support room closed once its conversation is over. */
  close?: boolean;
}

export const ROOMS: RoomSpec[] = [
  {
    key: 'general',
    type: 'group',
    name: 'General',
    description: 'Company-wide announcements and chatter',
    creator: 'ada',
    // The first listed talk most (see chooseSenders): spread so that nobody's write budget runs out.
    members: ['chen', 'dana', 'emeka', 'freya', 'gita', 'hugo', 'morgan', 'bruno'],
    topic: 'team',
    weight: 24,
    unread: { ada: 12, bruno: 3 },
  },
  {
    key: 'launch',
    type: 'business',
    name: 'Northwind launch',
    description: 'Everything for the v2 launch',
    businessId: 'northwind',
    creator: 'ada',
    members: ['chen', 'freya', 'bruno'],
    topic: 'launch',
    weight: 10,
    unread: { ada: 4 },
  },
  {
    key: 'design',
    type: 'group',
    name: 'Design crit',
    creator: 'dana',
    members: ['freya', 'gita', 'ada'],
    topic: 'design',
    weight: 10,
  },
  {
    key: 'hikes',
    type: 'group',
    name: 'Weekend hikes',
    description: 'Trails, car pools and photos',
    creator: 'emeka',
    members: ['hugo', 'bruno', 'ada'],
    topic: 'hikes',
    weight: 8,
    unread: { ada: 7 },
  },
  {
    key: 'books',
    type: 'group',
    name: 'Book club',
    description: 'This month: The Left Hand of Darkness',
    creator: 'gita',
    members: ['hugo', 'emeka', 'dana', 'morgan'],
    topic: 'friends',
    weight: 12,
  },
  { key: 'dm-ada-bruno', type: 'direct', creator: 'ada', members: ['bruno'], topic: 'friends', weight: 6, unread: { ada: 2 } },
  { key: 'dm-ada-chen', type: 'direct', creator: 'chen', members: ['ada'], topic: 'friends', weight: 3 },
  { key: 'dm-ada-dana', type: 'direct', creator: 'dana', members: ['ada'], topic: 'friends', weight: 3, unread: { ada: 1 } },
  { key: 'dm-emeka-chen', type: 'direct', creator: 'emeka', members: ['chen'], topic: 'friends', weight: 5 },
  { key: 'dm-gita-hugo', type: 'direct', creator: 'gita', members: ['hugo'], topic: 'friends', weight: 6 },
  { key: 'dm-morgan-dana', type: 'direct', creator: 'morgan', members: ['dana'], topic: 'friends', weight: 4 },
  { key: 'support-hugo', type: 'support', name: 'Photo upload fails', creator: 'hugo', members: ['sam'], topic: 'support', weight: 4 },
  {
    key: 'support-freya',
    type: 'support',
    name: 'Charged twice',
    creator: 'freya',
    members: ['sam'],
    topic: 'support',
    weight: 3,
    close: true,
  },
];

export const participantsOf = (room: RoomSpec): string[] => [room.creator, ...room.members];

export interface PlannedReaction {
  emoji: string;
  users: string[];
}

export interface PlannedMessage {
  index: number;
  clientMessageId: string;
  sender: string;
  content: string;
  /** Index of the message replied to. */
  replyTo?: number;
  mentions?: string[];
  /** A generated picture (its seed) sent with the message. */
  image?: number;
  /** Edited by its sender to this content. */
  editTo?: string;
  reactions: PlannedReaction[];
  /** Pinned (by someone allowed to: the owner of a group or business room, the sender elsewhere). */
  pinned?: boolean;
  deleted?: boolean;
}

/** Every room gets at least this many messages, so a small run still shows a reply, a mention, an image, reactions. */
export const MIN_PER_ROOM = 8;

export function messageCounts(total: number): Map<string, number> {
  const weights = ROOMS.reduce((sum, r) => sum + r.weight, 0);
  return new Map(ROOMS.map((r) => [r.key, Math.max(MIN_PER_ROOM, Math.round((total * r.weight) / weights))]));
}

/** mulberry32, seeded from the room key: the plan is the same on every machine and every run. */
function random(seedText: string): () => number {
  let a = 2166136261;
  for (const ch of seedText) a = Math.imul(a ^ ch.codePointAt(0)!, 16777619);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const nameOf = (id: string) => USERS.find((u) => u.id === id)?.name ?? id;

export function planRoom(room: RoomSpec, count: number): PlannedMessage[] {
  const rnd = random(room.key);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  const people = participantsOf(room);
  const grouped = room.type === 'group' || room.type === 'business';
  const senders = chooseSenders(room, count, rnd);
  const out: PlannedMessage[] = [];
  let edits = 0;
  for (let i = 0; i < count; i++) {
    const sender = senders[i]!;
    const others = people.filter((p) => p !== sender);
    const m: PlannedMessage = {
      index: i,
      clientMessageId: `seed:${room.key}:${i}`,
      sender,
      content: room.topic !== 'support' && rnd() < 0.3 ? pick(CHATTER) : pick(LINES[room.topic]),
      reactions: [],
    };
    // The first messages of each room show every feature once; after that, by chance.
    const roll = rnd();
    if (i === 2 || (i > 8 && roll < 0.015 && room.type !== 'support')) {
      m.image = Math.floor(rnd() * 1e9);
      m.content = pick(CAPTIONS);
    } else if ((i === 3 || (i > 8 && roll < 0.17)) && i > 0) {
      m.replyTo = Math.max(0, i - 1 - Math.floor(rnd() * Math.min(i, 12)));
      m.content = pick(REPLIES);
    } else if (grouped && (i === 4 || (i > 8 && roll < 0.27))) {
      const who = pick(others);
      m.mentions = [who];
      m.content = `@${nameOf(who)} ${pick(MENTION_LINES)}`;
    } else if ((i === 5 || roll > 0.985) && edits < EDITS.length) {
      const [before, after] = EDITS[edits++]!;
      m.content = before;
      m.editTo = after;
    }
    if (i === 0 || i === 2 || rnd() < 0.12) m.reactions = planReactions(people, sender, rnd, pick);
    out.push(m);
  }
  markPins(out, rnd);
  markDeletes(out, rnd);
  return out;
}

function chooseSenders(room: RoomSpec, count: number, rnd: () => number): string[] {
  const people = participantsOf(room);
  const talkers = [...room.members, room.creator];
  const senders: string[] = [];
  let last = room.creator;
  for (let i = 0; i < count; i++) {
    if (i === 0) last = room.creator;
    else if (people.length === 2) {
      // A conversation: turns, with a run of two or three now and then.
      if (rnd() < 0.65) last = people.find((p) => p !== last)!;
    } else {
      // Some people talk more than others: the first members listed most, the owner (who opened it) least.
      last = talkers[Math.floor(rnd() ** 1.3 * talkers.length)]!;
    }
    senders.push(last);
  }
  // The last messages of a room come from others than whoever is to have them unread.
  for (const [reader, n] of Object.entries(room.unread ?? {})) {
    for (let i = Math.max(1, count - n); i < count; i++) {
      if (senders[i] !== reader) continue;
      const quiet = new Set(
        Object.entries(room.unread ?? {})
          .filter(([, k]) => i >= count - k)
          .map(([id]) => id),
      );
      senders[i] = people.find((p) => !quiet.has(p)) ?? senders[i]!;
    }
  }
  return senders;
}

function planReactions(people: string[], sender: string, rnd: () => number, pick: <T>(l: readonly T[]) => T): PlannedReaction[] {
  const others = people.filter((p) => p !== sender);
  const kinds = rnd() < 0.7 ? 1 : 2;
  const out: PlannedReaction[] = [];
  for (let k = 0; k < kinds; k++) {
    const emoji = pick(EMOJI);
    if (out.some((r) => r.emoji === emoji)) continue;
    const n = 1 + Math.floor(rnd() ** 2 * Math.min(3, others.length));
    const users = [...others].sort(() => rnd() - 0.5).slice(0, n);
    out.push({ emoji, users: users.sort() });
  }
  return out;
}

/** One to three pins a room. */
function markPins(messages: PlannedMessage[], rnd: () => number): void {
  const wanted = Math.min(3, Math.max(1, Math.floor(messages.length / 100)));
  const candidates = messages.filter((m) => m.index > 0 && m.image === undefined && m.replyTo === undefined);
  for (let k = 0; k < wanted && candidates.length; k++) {
    const m = candidates.splice(Math.floor(rnd() * candidates.length), 1)[0]!;
    m.pinned = true;
  }
}

/** A few tombstones in long rooms: plain messages nobody replied to, reacted to or pinned. */
function markDeletes(messages: PlannedMessage[], rnd: () => number): void {
  const repliedTo = new Set(messages.map((m) => m.replyTo).filter((i) => i !== undefined));
  const plain = messages.filter(
    (m) =>
      m.index > MIN_PER_ROOM &&
      m.index < messages.length - 20 &&
      !repliedTo.has(m.index) &&
      !m.reactions.length &&
      !m.pinned &&
      m.image === undefined &&
      !m.editTo &&
      !m.mentions,
  );
  for (let k = 0; k < Math.floor(messages.length / 150) && plain.length; k++)
    plain.splice(Math.floor(rnd() * plain.length), 1)[0]!.deleted = true;
}

/** How many of the room's newest messages each participant leaves unread (0 unless the room spec says otherwise). */
export const unreadFor = (room: RoomSpec, userId: string): number => room.unread?.[userId] ?? 0;
