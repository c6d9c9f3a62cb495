import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import * as fx from './media-fixtures.js';
import { fetchBytes, leftoverFiles, mediaRows, room, upload, type UploadFile } from './media-helpers.js';

let t: TestApp;
let alice: Client;
let roomId: string;

beforeAll(async () => {
  t = await startTestApp();
  alice = await t.as('alice');
  await (await t.as('bob')).get('/rooms');
  roomId = await room(alice);
});
afterAll(async () => t?.close());

/** Uploads one file, attaches it to nothing, and reads its view (signed URLs) through the service. */
async function uploadOne(file: UploadFile) {
  const res = await upload(alice, roomId, [file]);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const [pending] = res.body.data;
  const rows = await t.app.database.db.query.chatMedia.findMany({ where: (m, { eq }) => eq(m.id, pending.id) });
  const [view] = await t.app.services.media.views(rows);
  return { pending, view: view!, row: rows[0]! };
}

describe('uploads of each accepted kind', () => {
  it('re-encodes a JPEG: dimensions after orientation, a WebP thumbnail, no EXIF (so no GPS) in the served file', async () => {
    const original = await fx.jpegWithGps(80, 40);
    const before = await sharp(original).metadata();
    expect([before.orientation, fx.hasGpsIfd(before.exif)]).toEqual([6, true]);
    const { pending, view } = await uploadOne({ name: 'holiday.jpg', type: 'image/jpeg', data: original });
    expect(pending).toMatchObject({ kind: 'image', mimeType: 'image/jpeg', fileName: 'holiday.jpg' });
    // Orientation 6 turns the 80×40 picture upright as 40×80.
    expect([view.width, view.height]).toEqual([40, 80]);
    expect(view.url.startsWith(`${t.config.publicUrl}/media/`)).toBe(true);

    const served = await fetchBytes(view.url.replace(t.config.publicUrl, t.baseUrl));
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('image/jpeg');
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    expect(served.headers.get('content-disposition')).toMatch(/^inline; filename="holiday.jpg"/);
    const meta = await sharp(served.body).metadata();
    expect(meta.exif).toBeUndefined();
    expect(served.body.includes(Buffer.from('TestCam'))).toBe(false);
    expect([meta.width, meta.height]).toEqual([40, 80]);
    expect(pending.size).toBe(served.body.length);

    const thumb = await fetchBytes(view.thumbnailUrl!.replace(t.config.publicUrl, t.baseUrl));
    expect(thumb.headers.get('content-type')).toBe('image/webp');
    expect((await sharp(thumb.body).metadata()).format).toBe('webp');
  });

  it('accepts PNG, WebP and GIF, and fits thumbnails inside 320×320', async () => {
    for (const [name, type, data] of [
      ['a.png', 'image/png', await fx.png(1000, 500)],
      ['b.webp', 'image/webp', await fx.webp()],
      ['c.gif', 'image/gif', await fx.gif()],
    ] as const) {
      const { pending, view } = await uploadOne({ name, type, data });
      expect(pending.mimeType).toBe(type);
      expect(view.thumbnailUrl).not.toBeNull();
      const thumb = await sharp((await fetchBytes(view.thumbnailUrl!.replace(t.config.publicUrl, t.baseUrl))).body).metadata();
      expect(thumb.width).toBeLessThanOrEqual(320);
      expect(thumb.height).toBeLessThanOrEqual(320);
    }
  });

  it('keeps a HEIC it cannot decode, with its size from the header and its Exif item (GPS) zeroed', async () => {
    const exif = (await sharp(await fx.jpegWithGps()).metadata()).exif!;
    const { pending, view } = await uploadOne({ name: 'IMG_0001.HEIC', type: 'image/heic', data: fx.heic(exif) });
    expect(pending).toMatchObject({ kind: 'image', mimeType: 'image/heic', fileName: 'IMG_0001.HEIC' });
    expect([view.width, view.height]).toEqual([4032, 3024]);
    const served = await fetchBytes(view.url.replace(t.config.publicUrl, t.baseUrl));
    expect(served.body.length).toBe(fx.heic(exif).length);
    expect(served.body.includes(exif.subarray(6, 40))).toBe(false);
    expect(served.body.includes(Buffer.from('TestCam'))).toBe(false);
  });

  it('reads durations: MP4 and QuickTime (mvhd), WebM (Info/Duration), WAV, MP3, Ogg Opus', async () => {
    const cases: Array<[UploadFile, string, string, number]> = [
      [{ name: 'clip.mp4', type: 'video/mp4', data: fx.isoMovie({ durationMs: 2500 }) }, 'video', 'video/mp4', 2500],
      [
        { name: 'clip.mov', type: 'video/quicktime', data: fx.isoMovie({ brand: 'qt  ', durationMs: 4000 }) },
        'video',
        'video/quicktime',
        4000,
      ],
      [{ name: 'clip.webm', type: 'video/webm', data: fx.webm({ durationMs: 3200 }) }, 'video', 'video/webm', 3200],
      [{ name: 'voice.webm', type: 'audio/webm', data: fx.webm({ durationMs: 1800, video: false }) }, 'audio', 'audio/webm', 1800],
      [
        { name: 'voice.m4a', type: 'audio/x-m4a', data: fx.isoMovie({ brand: 'M4A ', tracks: ['soun'], durationMs: 1200 }) },
        'audio',
        'audio/mp4',
        1200,
      ],
      [{ name: 'sound.mp4', type: 'video/mp4', data: fx.isoMovie({ tracks: ['soun'], durationMs: 900 }) }, 'audio', 'audio/mp4', 900],
      [{ name: 'tone.wav', type: 'audio/x-wav', data: fx.wav(1500) }, 'audio', 'audio/wav', 1500],
      [{ name: 'song.mp3', type: 'audio/mpeg', data: fx.mp3(100) }, 'audio', 'audio/mpeg', 2612],
      [{ name: 'note.opus', type: 'audio/ogg', data: fx.oggOpus(2000) }, 'audio', 'audio/ogg', 2000],
    ];
    for (const [file, kind, mimeType, durationMs] of cases) {
      const { pending, view } = await uploadOne(file);
      expect(pending, file.name).toMatchObject({ kind, mimeType });
      expect(Math.abs(view.durationMs! - durationMs), `${file.name}: ${view.durationMs}`).toBeLessThanOrEqual(30);
      expect(view.thumbnailUrl).toBeNull();
    }
    const mp4 = await uploadOne({ name: 'clip2.mp4', type: 'video/mp4', data: fx.isoMovie() });
    expect([mp4.view.width, mp4.view.height]).toEqual([320, 240]);
  });

  it('accepts AAC without a duration header', async () => {
    const { pending } = await uploadOne({ name: 'raw.aac', type: 'audio/aac', data: fx.aac() });
    expect(pending).toMatchObject({ kind: 'audio', mimeType: 'audio/aac' });
  });

  it('serves documents as attachments under their sanitised name: PDF, text, docx, doc', async () => {
    const cases: Array<[UploadFile, string, string]> = [
      [{ name: 'report.pdf', type: 'application/pdf', data: fx.pdf() }, 'application/pdf', 'report.pdf'],
      [{ name: 'notes.txt', type: 'text/plain', data: fx.text() }, 'text/plain', 'notes.txt'],
      [{ name: 'run.bat', type: 'application/octet-stream', data: fx.text() }, 'text/plain', 'run.bat.txt'],
      [{ name: 'letter.docx', type: fx.DOCX_MIME, data: fx.docx() }, fx.DOCX_MIME, 'letter.docx'],
      [{ name: 'old.doc', type: 'application/msword', data: fx.cfb(['WordDocument']) }, 'application/msword', 'old.doc'],
      [{ name: 'sheet.xls', type: 'application/vnd.ms-excel', data: fx.cfb(['Workbook']) }, 'application/vnd.ms-excel', 'sheet.xls'],
      [{ name: 'Résumé 2024.pdf', type: '', data: fx.pdf() }, 'application/pdf', 'Résumé 2024.pdf'],
    ];
    for (const [file, mimeType, fileName] of cases) {
      const { pending, view } = await uploadOne(file);
      expect(pending, file.name).toMatchObject({ kind: 'document', mimeType, fileName });
      const served = await fetchBytes(view.url.replace(t.config.publicUrl, t.baseUrl));
      expect(served.status).toBe(200);
      expect(served.body.equals(Buffer.from(file.data))).toBe(true);
      expect(served.headers.get('content-disposition')).toContain(`attachment; filename="${fileName.replace(/[^\x20-\x7e]/g, '_')}"`);
      expect(served.headers.get('content-disposition')).toContain(`filename*=UTF-8''${encodeURIComponent(fileName)}`);
      if (mimeType === 'text/plain') expect(served.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    }
  });

  it('uploads several files in one request, in order', async () => {
    const res = await upload(alice, roomId, [
      { name: 'one.png', type: 'image/png', data: await fx.png() },
      { name: 'two.pdf', type: 'application/pdf', data: fx.pdf() },
      { name: 'three.wav', type: 'audio/wav', data: fx.wav(200) },
    ]);
    expect(res.status).toBe(201);
    expect(res.body.data.map((m: any) => [m.fileName, m.kind])).toEqual([
      ['one.png', 'image'],
      ['two.pdf', 'document'],
      ['three.wav', 'audio'],
    ]);
  });
});

describe('serving local files', () => {
  it('answers range requests for audio and video with 206 and Content-Range', async () => {
    const data = fx.wav(1000);
    const { view } = await uploadOne({ name: 'range.wav', type: 'audio/wav', data });
    const url = view.url.replace(t.config.publicUrl, t.baseUrl);
    const part = await fetchBytes(url, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-19/${data.length}`);
    expect(part.headers.get('accept-ranges')).toBe('bytes');
    expect(part.body.equals(data.subarray(10, 20))).toBe(true);
    const tail = await fetchBytes(url, { headers: { range: 'bytes=-4' } });
    expect(tail.body.equals(data.subarray(data.length - 4))).toBe(true);
    const head = await fetchBytes(url, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), head.body.length]).toEqual([200, String(data.length), 0]);
    const beyond = await fetchBytes(url, { headers: { range: `bytes=${data.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${data.length}`);
  });

  it('refuses tampered and expired URLs with 403 problem+json, and a deleted file with 404', async () => {
    const { view, row } = await uploadOne({ name: 'secret.pdf', type: 'application/pdf', data: fx.pdf() });
    const url = new URL(view.url.replace(t.config.publicUrl, t.baseUrl));
    const tamper = async (edit: (u: URL) => void) => {
      const u = new URL(url);
      edit(u);
      const res = await fetch(u);
      return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as { code: string } };
    };
    for (const edit of [
      (u: URL) =>
        u.searchParams.set(
          'sig',
          u.searchParams.get('sig')!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')),
        ),
      (u: URL) => u.searchParams.set('exp', String(Number(u.searchParams.get('exp')) + 1)),
      (u: URL) => u.searchParams.set('name', 'other.pdf'),
      (u: URL) =>
        (u.pathname = u.pathname.replace(
          row.id,
          row.id.replace(/.$/, (c) => (c === '0' ? '1' : '0')),
        )),
      (u: URL) => u.searchParams.delete('sig'),
    ]) {
      const res = await tamper(edit);
      expect(res.status).toBe(403);
      expect(res.type).toContain('application/problem+json');
      expect(res.body.code).toBe('FORBIDDEN');
    }
    const storage = t.app.services.media.storage;
    const past = Math.floor(Date.now() / 1000) - 10;
    const expired = await storage.signedUrl(row.storageKey, {
      issuedAt: past - 60,
      expiresAt: past,
      disposition: 'attachment',
      fileName: row.fileName,
    });
    const res = await fetch(expired.replace(t.config.publicUrl, t.baseUrl));
    expect(res.status).toBe(403);
    expect(((await res.json()) as { code: string }).code).toBe('FORBIDDEN');

    await storage.delete(row.storageKey);
    const gone = await fetch(url);
    expect(gone.status).toBe(404);
  });
});

describe('the upload endpoint', () => {
  it('is in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${t.baseUrl}/docs/json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths['/api/v1/chat/rooms/{id}/media'] ?? {})).toContain('post');
  });

  it('is 404 for a stranger, 401 without a token, and stores nothing', async () => {
    const before = await mediaRows(t);
    const filesBefore = (await leftoverFiles(t)).length;
    const mallory = await t.as('mallory');
    const res = await upload(mallory, roomId, [{ name: 'x.png', type: 'image/png', data: await fx.png() }]);
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('NOT_FOUND');
    const missing = await upload(mallory, '01900000-0000-7000-8000-000000000000', [
      { name: 'x.png', type: 'image/png', data: await fx.png() },
    ]);
    expect(missing.status).toBe(404);
    const anon = await fetch(`${t.baseUrl}/api/v1/chat/rooms/${roomId}/media`, { method: 'POST', body: new FormData() });
    expect(anon.status).toBe(401);
    expect(await mediaRows(t)).toBe(before);
    expect((await leftoverFiles(t)).length).toBe(filesBefore);
  });
});
