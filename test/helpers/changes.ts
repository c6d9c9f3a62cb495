import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import { dbRows, type Client, type Res, type TestApp } from './app.js';
import type { ClientSocket } from './sockets.js';

/**
 * Shared by the edit, delete and pin tests: calls the Client helper has no verb for, the state a refusal must leave
 * untouched, and socket listeners for the wave 2 events (loosely typed, so these files do not depend on the event map).
 */

export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** Well formed, time-ordered, and names nothing. */
export const UNKNOWN_ID = '01890a5d-ac96-774b-bcce-b302099a8057';
export const MALFORMED_ID = 'not-an-id';

export const put = (c: Client, path: string): Promise<Res> => c.raw(path, { method: 'PUT' });
export const del = (c: Client, path: string): Promise<Res> => c.raw(path, { method: 'DELETE' });

export const editMessage = (c: Client, id: string, body: Record<string, unknown>) => c.patch(`/messages/${id}`, body);
export const deleteMessage = (c: Client, id: string) => del(c, `/messages/${id}`);
export const pin = (c: Client, roomId: string, messageId: string) => put(c, `/rooms/${roomId}/pins/${messageId}`);
export const unpin = (c: Client, roomId: string, messageId: string) => del(c, `/rooms/${roomId}/pins/${messageId}`);
export const react = (c: Client, id: string, emoji: string) => put(c, `/messages/${id}/reactions/${encodeURIComponent(emoji)}`);
export const unreact = (c: Client, id: string, emoji: string) => del(c, `/messages/${id}/reactions/${encodeURIComponent(emoji)}`);

/** A 200 answer's body; anything else fails the test with what the server said. */
export function ok<T = any>(res: Res<T>, what = 'request'): T {
  if (res.status !== 200) throw new Error(`${what}: expected 200, got ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** `ok` of a request still under way. */
export const okOf = async <T = any>(res: Promise<Res<T>>): Promise<T> => ok(await res);

/** The whole history of a room, paged fully by seq, oldest first. */
export async function fullHistory(c: Client, roomId: string): Promise<any[]> {
  const out: any[] = [];
  for (let after = 0; ;) {
    const page = ok(await c.get(`/rooms/${roomId}/messages?after=${after}&limit=100`), 'GET history');
    out.push(...page.data);
    if (!page.hasMore || page.data.length === 0) return out;
    after = page.data.at(-1).seq;
  }
}

export const getMessage = async (c: Client, id: string): Promise<any> => ok(await c.get(`/messages/${id}`), `GET /messages/${id}`);
export const getRoom = async (c: Client, id: string): Promise<any> => ok(await c.get(`/rooms/${id}`), `GET /rooms/${id}`);
export const getEdits = async (c: Client, id: string): Promise<any[]> => ok(await c.get(`/messages/${id}/edits`), 'GET edits').data;
export const history = async (c: Client, roomId: string): Promise<any[]> =>
  ok(await c.get(`/rooms/${roomId}/messages?limit=100`), 'GET history').data;

/** Signed media URLs are re-signed on every read: compare messages without them. */
export function unsigned(message: any): any {
  if (!message || !Array.isArray(message.media)) return message;
  return { ...message, media: message.media.map(({ url: _u, thumbnailUrl: _t, ...rest }: any) => rest) };
}

/**
 * Everything a refused change must leave as it was, read by `reader` (a participant): the message, its earlier versions,
 * and the room's change counter and pin count.
 */
export async function stateOf(reader: Client, roomId: string, messageId: string): Promise<unknown> {
  const room = await getRoom(reader, roomId);
  return {
    message: unsigned(await getMessage(reader, messageId)),
    edits: await getEdits(reader, messageId),
    lastChangeSeq: room.lastChangeSeq,
    pinnedCount: room.pinnedCount,
  };
}

/** A participant's role set directly: no route makes a group admin yet. */
export async function setRole(t: TestApp, roomId: string, userId: string, role: string): Promise<void> {
  await t.app.database.db.execute(sql`update chat_participant set role = ${role} where room_id = ${roomId} and user_id = ${userId}`);
}

/** An admin job once it has ended (`done` or `failed`), polled through `GET /admin/jobs/:id`. */
export async function jobEnded(admin: Client, jobId: string, { timeout = 20_000, interval = 50 } = {}): Promise<any> {
  let job: any;
  await expect
    .poll(async () => (job = ok(await admin.get(`/admin/jobs/${jobId}`))).status, { timeout, interval })
    .toMatch(/^(done|failed)$/);
  return job;
}

/** Rows kept about one message besides the message itself: earlier versions and reactions. */
export async function sideRows(t: TestApp, messageId: string): Promise<{ edits: number; reactions: number }> {
  const [row] = await dbRows<{ edits: number; reactions: number }>(
    t,
    sql`select (select count(*)::int from chat_message_edit where message_id = ${messageId}) as edits,
               (select count(*)::int from chat_reaction where message_id = ${messageId}) as reactions`,
  );
  return row!;
}

/** The search hits' message ids in one room for `q`. */
export async function searchIds(c: Client, roomId: string, q: string): Promise<string[]> {
  const res = await c.get(`/messages/search?${new URLSearchParams({ q, chatRoomId: roomId }).toString()}`);
  expect(res.status).toBe(200);
  return res.body.data.map((hit: any) => hit.message.id);
}

type Listener = (...args: unknown[]) => void;

/** The next `event` whose payload matches, or a rejection after `ms`. */
export function nextEvent(socket: ClientSocket, event: string, match: (payload: any) => boolean = () => true, ms = 5000): Promise<any> {
  const s = socket as unknown as { on(e: string, l: Listener): void; off(e: string, l: Listener): void };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      s.off(event, handler);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const handler: Listener = (payload) => {
      if (!match(payload)) return;
      clearTimeout(timer);
      s.off(event, handler);
      resolve(payload);
    };
    s.on(event, handler);
  });
}

export const MESSAGE_EVENTS = ['new_message', 'message_updated', 'message_deleted', 'reaction_updated'] as const;

/** Every message event `socket` receives from now on, in arrival order. */
export function recordMessageEvents(socket: ClientSocket): Array<{ event: string; payload: any }> {
  const seen: Array<{ event: string; payload: any }> = [];
  socket.onAny((event: string, payload: unknown) => {
    if ((MESSAGE_EVENTS as readonly string[]).includes(event)) seen.push({ event, payload });
  });
  return seen;
}

/**
 * The change log's index is whole (messages/change-index.ts): a message of the room has a chat_message_change row
 * exactly when its change_seq is past its base_change_seq, and at its change_seq; no row names anything else.
 */
export async function expectChangeIndexWhole(t: TestApp, roomId: string): Promise<void> {
  const moved = await dbRows<{ id: string; change_seq: number }>(
    t,
    sql`select id, change_seq from chat_message where room_id = ${roomId} and change_seq <> base_change_seq order by change_seq`,
  );
  const listed = await dbRows<{ id: string; change_seq: number }>(
    t,
    sql`select message_id as id, change_seq from chat_message_change where room_id = ${roomId} order by change_seq`,
  );
  expect(listed).toEqual(moved);
  const [behind] = await dbRows<{ n: number }>(
    t,
    sql`select count(*)::int as n from chat_message where room_id = ${roomId} and base_change_seq > change_seq`,
  );
  expect(behind!.n).toBe(0);
}
