import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { call, connect, waitFor } from './helpers/sockets.js';
import { elf, jpegWithGps, pdf, png, wav } from './media-fixtures.js';
import { fetchBytes, form, leftoverFiles, mediaRows, room, upload } from './media-helpers.js';

let t: TestApp;
let alice: Client, bob: Client, mallory: Client;

beforeAll(async () => {
  t = await startTestApp();
  alice = await t.as('alice');
  bob = await t.as('bob');
  mallory = await t.as('mallory');
});
afterAll(async () => t?.close());

const sendForm = (client: Client, roomId: string, fd: FormData) => client.raw(`/rooms/${roomId}/messages`, { method: 'POST', body: fd });
/** Local URLs name PUBLIC_URL; the test reaches the app on its real port. */
const reach = (url: string) => url.replace(t.config.publicUrl, t.baseUrl);
const messageCount = async () =>
  ((await t.app.database.db.execute(sql`select count(*)::int as n from chat_message`)) as unknown as { rows: Array<{ n: number }> })
    .rows[0]!.n;

describe('messages with media', () => {
  it('sends a multipart message with several files, fields and mentions, and serves its files to the room', async () => {
    const roomId = await room(alice);
    const first = (await alice.post(`/rooms/${roomId}/messages`, { content: 'before' })).body;
    const res = await sendForm(
      alice,
      roomId,
      form(
        [
          { name: 'a.jpg', type: 'image/jpeg', data: await jpegWithGps() },
          { name: 'b.png', type: 'image/png', data: await png() },
        ],
        { content: 'holiday', mentions: '["bob"]', replyToId: first.id, clientMessageId: 'mp-1' },
      ),
    );
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      type: 'image',
      content: 'holiday',
      mentions: ['bob'],
      replyToId: first.id,
      clientMessageId: 'mp-1',
      seq: 2,
    });
    expect(res.body.media).toHaveLength(2);
    expect(res.body.media[0]).toMatchObject({
      kind: 'image',
      mimeType: 'image/jpeg',
      fileName: 'a.jpg',
      width: expect.any(Number),
      height: expect.any(Number),
    });
    const file = await fetchBytes(reach(res.body.media[1].url));
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('image/png');
    // History and the room list present the same media with freshly signed URLs.
    const hist = (await bob.get(`/rooms/${roomId}/messages`)).body.data;
    expect(hist[1].media.map((m: any) => m.id)).toEqual(res.body.media.map((m: any) => m.id));
    expect((await fetchBytes(reach(hist[1].media[0].url))).status).toBe(200);
    expect((await bob.get(`/rooms/${roomId}`)).body.lastMessage.media).toHaveLength(2);
    // A retry of the same clientMessageId returns the stored message and keeps no second copy of the files.
    const rowsBefore = await mediaRows(t);
    const again = await sendForm(
      alice,
      roomId,
      form([{ name: 'c.png', type: 'image/png', data: await png() }], { content: 'holiday', clientMessageId: 'mp-1' }),
    );
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(res.body.id);
    expect(await mediaRows(t)).toBe(rowsBefore);
  });

  it('takes the type from the files: one kind shared, else the first file, and allows empty content', async () => {
    const roomId = await room(alice);
    const audio = await sendForm(alice, roomId, form([{ name: 'v.wav', type: 'audio/wav', data: wav() }]));
    expect(audio.status).toBe(201);
    expect(audio.body).toMatchObject({ type: 'audio', content: '' });
    expect(audio.body.media[0].durationMs).toBe(1500);
    const mixed = await sendForm(
      alice,
      roomId,
      form([
        { name: 'd.pdf', type: 'application/pdf', data: pdf() },
        { name: 'e.png', type: 'image/png', data: await png() },
      ]),
    );
    expect(mixed.body.type).toBe('document');
  });

  it('refuses the whole message when one file is refused, keeping nothing', async () => {
    const roomId = await room(alice);
    const before = { messages: await messageCount(), media: await mediaRows(t) };
    const res = await sendForm(
      alice,
      roomId,
      form(
        [
          { name: 'ok.png', type: 'image/png', data: await png() },
          { name: 'x.png', type: 'image/png', data: elf() },
        ],
        { content: 'hi' },
      ),
    );
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    const badField = await sendForm(
      alice,
      roomId,
      form([{ name: 'ok.png', type: 'image/png', data: await png() }], { content: 'bell\u0007' }),
    );
    expectProblem(badField, 400, 'VALIDATION_FAILED');
    const stranger = await sendForm(mallory, roomId, form([{ name: 'ok.png', type: 'image/png', data: await png() }], { content: 'hi' }));
    expectProblem(stranger, 404, 'NOT_FOUND');
    const empty = await sendForm(alice, roomId, form([], { content: '   ' }));
    expectProblem(empty, 400, 'VALIDATION_FAILED');
    expect({ messages: await messageCount(), media: await mediaRows(t) }).toEqual(before);
    // No stored file of this room and no temp file survive the refusals.
    expect((await leftoverFiles(t)).filter((f) => f.includes(roomId) || f.includes(`${t.config.dataDir}/tmp`))).toEqual([]);
  });

  it('sends uploaded media over the socket with mediaIds, and refuses ids that are not the sender’s pending uploads', async () => {
    const roomId = await room(alice);
    const up = await upload(alice, roomId, [{ name: 'p.png', type: 'image/png', data: await png() }]);
    expect(up.status).toBe(201);
    const ids = up.body.data.map((m: any) => m.id);
    const sa = await connect(t.baseUrl, alice.token);
    const sb = await connect(t.baseUrl, bob.token);
    try {
      // bob cannot use alice's upload
      const stolen = await call(sb, 'send_message', { chatRoomId: roomId, content: 'mine now', mediaIds: ids });
      expect(stolen).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
      const got = waitFor(sb, 'new_message', (m) => m.chatRoomId === roomId);
      const ack = await call(sa, 'send_message', { chatRoomId: roomId, content: '', mediaIds: ids });
      expect(ack).toMatchObject({ ok: true, data: { type: 'image', media: [{ id: ids[0], kind: 'image' }] } });
      const live = await got;
      expect(live.media[0]!.id).toBe(ids[0]);
      expect((await fetchBytes(reach(live.media[0]!.url))).status).toBe(200);
      // Used once: a second send with the same ids is refused and stores nothing.
      const before = await messageCount();
      expect(await call(sa, 'send_message', { chatRoomId: roomId, content: 'again', mediaIds: ids })).toMatchObject({
        ok: false,
        error: { code: 'VALIDATION_FAILED' },
      });
      expect(await call(sa, 'send_message', { chatRoomId: roomId, content: 'x', mediaIds: ['not-an-id'] })).toMatchObject({
        ok: false,
        error: { code: 'VALIDATION_FAILED' },
      });
      expect(await messageCount()).toBe(before);
    } finally {
      sa.close();
      sb.close();
    }
  });

  it('finds media messages with the hasMedia filter', async () => {
    const roomId = await room(alice);
    await sendForm(alice, roomId, form([{ name: 'z.png', type: 'image/png', data: await png() }], { content: 'zebra picture' }));
    await alice.post(`/rooms/${roomId}/messages`, { content: 'zebra words' });
    const withMedia = (await alice.get(`/messages/search?q=zebra&chatRoomId=${roomId}&hasMedia=true`)).body.data;
    expect(withMedia.map((h: any) => h.message.content)).toEqual(['zebra picture']);
    expect(withMedia[0].message.media).toHaveLength(1);
    const without = (await alice.get(`/messages/search?q=zebra&chatRoomId=${roomId}&hasMedia=false`)).body.data;
    expect(without.map((h: any) => h.message.content)).toEqual(['zebra words']);
  });
});
