import type { MessageView, SendMessageInput } from '../../src/contract/messages.js';
import type { CreateRoomInput, RoomView } from '../../src/contract/rooms.js';
import type { Client, Res } from './app.js';

/**
 * Test data made through the public API, as a client makes it, so a test's setup goes through the same checks as
 * its subject. A factory fails the test at once (with the problem the server gave) when the server refuses: a setup
 * step that silently did nothing would make the assertions after it test something else.
 */

/** A group named "room" owned by `client`, with no one else unless `overrides.participantIds` says so. */
export async function buildRoom(client: Client, overrides: Partial<CreateRoomInput> = {}): Promise<RoomView> {
  return created('buildRoom', await client.post<RoomView>('/rooms', { type: 'group', name: 'room', ...overrides }));
}

/** A text message "hello" sent by `client` to `roomId`. */
export async function buildMessage(client: Client, roomId: string, overrides: Partial<SendMessageInput> = {}): Promise<MessageView> {
  return created('buildMessage', await client.post<MessageView>(`/rooms/${roomId}/messages`, { content: 'hello', ...overrides }));
}

/** `n` messages sent one after another (so seq and content line up): "m0", "m1", … unless `content` says otherwise. */
export async function buildMessages(
  client: Client,
  roomId: string,
  n: number,
  content: (i: number) => string = (i) => `m${i}`,
): Promise<MessageView[]> {
  const out: MessageView[] = [];
  for (let i = 0; i < n; i++) out.push(await buildMessage(client, roomId, { content: content(i) }));
  return out;
}

function created<T>(what: string, res: Res<T>): T {
  if (res.status !== 201) throw new Error(`${what}: expected 201, got ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
