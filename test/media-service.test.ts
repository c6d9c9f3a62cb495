import Fastify, { type FastifyInstance } from 'fastify';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthContext } from '../src/auth/tokens.js';
import { AppError } from '../src/errors.js';
import { registerErrorHandling } from '../src/http/errors.js';
import { newId } from '../src/ids.js';
import { MessagesRepository } from '../src/messages/messages.repository.js';
import { registerMultipart, withMultipartMessage, type MultipartMessageFields } from '../src/media/index.js';
import { documentVector } from '../src/text/tokenize.js';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import * as fx from './media-fixtures.js';
import { authOf, fetchBytes, form, leftoverFiles, mediaRows, room, upload } from './media-helpers.js';

let t: TestApp;
let alice: Client;
let bob: Client;
let roomId: string;
let otherRoomId: string;

beforeAll(async () => {
  t = await startTestApp({ MEDIA_MAX_FILES: '3' });
  alice = await t.as('alice');
  bob = await t.as('bob');
  await bob.get('/rooms');
  roomId = await room(alice);
  otherRoomId = await room(alice);
});
afterAll(async () => t?.close());

const media = () => t.app.services.media;

async function uploadIds(client: Client, id: string, n = 1): Promise<string[]> {
  const files = await Promise.all(
    Array.from({ length: n }, async (_, i) => ({ name: `f${i}.png`, type: 'image/png', data: await fx.png(10 + i, 10) })),
  );
  const res = await upload(client, id, files);
  expect(res.status).toBe(201);
  return res.body.data.map((m: any) => m.id);
}

/** What the message service will do: insert the message, then claim its media, in one transaction. */
async function sendWithMedia(auth: AuthContext, id: string, mediaIds: string[], content = 'with media'): Promise<string> {
  const messageId = newId();
  await t.app.database.db.transaction(async (tx) => {
    await new MessagesRepository(t.app.database.db).with(tx).insertNext({
      id: messageId,
      roomId: id,
      senderId: auth.userId,
      type: 'image',
      content,
      mentions: [],
      replyToSeq: null,
      clientMessageId: null,
      hasMedia: true,
      searchDoc: documentVector(content),
    });
    await media().claim(tx, auth, id, mediaIds, messageId);
  });
  return messageId;
}

const messageCount = async () =>
  ((await t.app.database.db.execute(sql`select count(*)::int as n from chat_message`)) as unknown as { rows: Array<{ n: number }> })
    .rows[0]!.n;

async function expectRefused(promise: Promise<unknown>, code: string) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe(code);
}

describe('claim and viewsFor', () => {
  it('attaches pending uploads to a message in the order given, and lists them with fresh signed URLs', async () => {
    const ids = await uploadIds(alice, roomId, 3);
    const order = [ids[2]!, ids[0]!, ids[1]!];
    const messageId = await sendWithMedia(authOf('alice'), roomId, order);
    const views = await media().viewsFor([messageId, newId()]);
    expect([...views.keys()]).toEqual([messageId]);
    const list = views.get(messageId)!;
    expect(list.map((m) => m.id)).toEqual(order);
    expect(list.map((m) => m.width)).toEqual([12, 10, 11]);
    for (const m of list) {
      expect(m).toMatchObject({ kind: 'image', mimeType: 'image/png', durationMs: null });
      const res = await fetchBytes(m.url.replace(t.config.publicUrl, t.baseUrl));
      expect(res.status).toBe(200);
    }
    expect(media().messageType(list)).toBe('image');
  });

  it("refuses someone else's upload, an upload already used, one from another room: 400, and the message is rolled back", async () => {
    const before = await messageCount();
    const [bobs] = await uploadIds(bob, roomId);
    await expectRefused(sendWithMedia(authOf('alice'), roomId, [bobs!]), 'VALIDATION_FAILED');

    const [used] = await uploadIds(alice, roomId);
    await sendWithMedia(authOf('alice'), roomId, [used!]);
    const afterFirst = await messageCount();
    expect(afterFirst).toBe(before + 1);
    await expectRefused(sendWithMedia(authOf('alice'), roomId, [used!]), 'VALIDATION_FAILED');

    const [elsewhere] = await uploadIds(alice, otherRoomId);
    await expectRefused(sendWithMedia(authOf('alice'), roomId, [elsewhere!]), 'VALIDATION_FAILED');
    // One good id next to a bad one: nothing is claimed.
    const [fresh] = await uploadIds(alice, roomId);
    await expectRefused(sendWithMedia(authOf('alice'), roomId, [fresh!, bobs!]), 'VALIDATION_FAILED');
    expect(await messageCount()).toBe(afterFirst);
    const sent = await sendWithMedia(authOf('alice'), roomId, [fresh!]);
    expect((await media().viewsFor([sent])).get(sent)).toHaveLength(1);
  });

  it('pending() reads the uploads in order before the transaction, with the same refusals and without claiming', async () => {
    const ids = await uploadIds(alice, roomId, 2);
    const rows = await media().pending(authOf('alice'), roomId, [ids[1]!, ids[0]!]);
    expect(rows.map((r) => r.id)).toEqual([ids[1], ids[0]]);
    expect(media().messageType(rows)).toBe('image');
    await expectRefused(media().pending(authOf('bob'), roomId, ids), 'VALIDATION_FAILED');
    await expectRefused(media().pending(authOf('alice'), otherRoomId, ids), 'VALIDATION_FAILED');
    await expectRefused(media().pending(authOf('alice'), roomId, [ids[0]!, ids[0]!]), 'VALIDATION_FAILED');
    const messageId = await sendWithMedia(authOf('alice'), roomId, ids);
    expect((await media().viewsFor([messageId])).get(messageId)).toHaveLength(2);
    await expectRefused(media().pending(authOf('alice'), roomId, ids), 'VALIDATION_FAILED');
  });

  it('refuses repeated or malformed ids (400) and more ids than MEDIA_MAX_FILES (413)', async () => {
    const ids = await uploadIds(alice, roomId, 2);
    await expectRefused(sendWithMedia(authOf('alice'), roomId, [ids[0]!, ids[0]!]), 'VALIDATION_FAILED');
    await expectRefused(sendWithMedia(authOf('alice'), roomId, ['not-an-id']), 'VALIDATION_FAILED');
    const more = [...ids, ...(await uploadIds(alice, roomId, 2))];
    await expectRefused(sendWithMedia(authOf('alice'), roomId, more), 'PAYLOAD_TOO_LARGE');
    await media().discard(authOf('alice'), more);
  });

  it('decides the message type from the files', () => {
    const type = (...kinds: string[]) => media().messageType(kinds.map((kind) => ({ kind })));
    expect(type()).toBe('text');
    expect(type('audio', 'audio')).toBe('audio');
    expect(type('document', 'image', 'image')).toBe('document');
  });
});

describe('pending uploads', () => {
  it('cleanupPending removes unused uploads older than the cut-off, rows and files, and nothing else', async () => {
    const [old] = await uploadIds(alice, roomId);
    const [recent] = await uploadIds(alice, roomId);
    const [used] = await uploadIds(alice, roomId);
    await sendWithMedia(authOf('alice'), roomId, [used!]);
    await t.app.database.db.execute(sql`update chat_media set created_at = now() - interval '2 hours' where id in (${old}, ${used})`);
    const filesBefore = await leftoverFiles(t);
    const rowsBefore = await mediaRows(t);

    expect(await media().cleanupPending(60 * 60 * 1000)).toBe(1);
    expect(await mediaRows(t)).toBe(rowsBefore - 1);
    const filesAfter = await leftoverFiles(t);
    expect(filesBefore.length - filesAfter.length).toBe(2);
    expect(filesAfter.some((f) => f.includes(old!))).toBe(false);
    expect(filesAfter.some((f) => f.includes(recent!))).toBe(true);
    expect(filesAfter.some((f) => f.includes(used!))).toBe(true);
    await media().discard(authOf('alice'), [recent!]);
  });

  it('discard removes only the caller’s own pending uploads', async () => {
    const [mine] = await uploadIds(alice, roomId);
    const [bobs] = await uploadIds(bob, roomId);
    const before = await mediaRows(t);
    await media().discard(authOf('alice'), [mine!, bobs!]);
    expect(await mediaRows(t)).toBe(before - 1);
    await media().discard(authOf('bob'), [bobs!]);
  });
});

describe('withMultipartMessage', () => {
  let server: FastifyInstance;
  let url: string;
  const calls: Array<{ fields: MultipartMessageFields; mediaIds: string[] }> = [];
  let behaviour: 'claim' | 'throw' | 'ignore' = 'claim';

  beforeAll(async () => {
    // A stand-in for the messages route: the same helper, with a send that claims, fails, or answers without claiming.
    server = Fastify();
    registerErrorHandling(server);
    server.addHook('onRequest', async (req) => void (req.auth = authOf(String(req.headers['x-user']))));
    await registerMultipart(server, t.config);
    server.post<{ Params: { id: string } }>('/rooms/:id/messages', async (req, reply) => {
      const messageId = await withMultipartMessage(req, media(), req.params.id, t.config.media.maxFiles, async (fields, mediaIds) => {
        calls.push({ fields, mediaIds });
        if (behaviour === 'throw') throw new AppError('VALIDATION_FAILED', 'replyToId must name a message of the same room');
        if (behaviour === 'ignore') return 'earlier-message';
        return sendWithMedia(req.auth, req.params.id, mediaIds, fields.content);
      });
      return reply.status(201).send({ messageId });
    });
    url = await server.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => server?.close());

  const post = (fd: FormData, user = 'alice') =>
    fetch(`${url}/rooms/${roomId}/messages`, { method: 'POST', body: fd, headers: { 'x-user': user } });

  it('reads the fields (mentions as a JSON array or repeated) and claims the files', async () => {
    behaviour = 'claim';
    const fd = form(
      [
        { name: 'a.pdf', type: 'application/pdf', data: fx.pdf() },
        { name: 'b.txt', type: 'text/plain', data: fx.text() },
      ],
      { content: 'see attached', replyToId: '', clientMessageId: 'c-1', mentions: '["bob"]' },
    );
    const res = await post(fd);
    expect(res.status).toBe(201);
    const { messageId } = (await res.json()) as { messageId: string };
    expect(calls.at(-1)!.fields).toEqual({ content: 'see attached', clientMessageId: 'c-1', mentions: ['bob'] });
    expect((await media().viewsFor([messageId])).get(messageId)!.map((m) => m.fileName)).toEqual(['a.pdf', 'b.txt']);

    const repeated = await post(form([], { content: 'hi', mentions: ['bob', 'alice'] }));
    expect(repeated.status).toBe(201);
    expect(calls.at(-1)).toEqual({ fields: { content: 'hi', mentions: ['bob', 'alice'] }, mediaIds: [] });
  });

  it('keeps nothing when the send fails, or answers without using the files', async () => {
    const rows = await mediaRows(t);
    const files = await leftoverFiles(t);
    for (const b of ['throw', 'ignore'] as const) {
      behaviour = b;
      const res = await post(form([{ name: 'a.png', type: 'image/png', data: await fx.png() }], { content: 'x' }));
      expect(res.status).toBe(b === 'throw' ? 400 : 201);
      expect(calls.at(-1)!.mediaIds).toHaveLength(1);
      expect(await mediaRows(t)).toBe(rows);
      expect(await leftoverFiles(t)).toEqual(files);
    }
  });

  it('refuses a repeated single field and malformed mentions before sending, keeping nothing', async () => {
    behaviour = 'claim';
    const rows = await mediaRows(t);
    const count = calls.length;
    const cases: Array<Record<string, string | string[]>> = [{ content: ['a', 'b'] }, { mentions: '[1, 2]' }, { mentions: '[not json' }];
    for (const fields of cases) {
      const res = await post(form([{ name: 'a.pdf', type: 'application/pdf', data: fx.pdf() }], fields));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe('VALIDATION_FAILED');
    }
    expect(calls.length).toBe(count);
    expect(await mediaRows(t)).toBe(rows);
  });

  it('refuses a stranger with 404 before reading the files', async () => {
    const res = await post(form([{ name: 'a.pdf', type: 'application/pdf', data: fx.pdf() }], { content: 'x' }), 'mallory');
    expect(res.status).toBe(404);
  });
});
