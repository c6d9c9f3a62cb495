import { request as httpRequest } from 'node:http';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import * as fx from './media-fixtures.js';
import { authOf, leftoverFiles, mediaRows, room, upload, type UploadFile } from './media-helpers.js';

let t: TestApp;
let small: TestApp;
let alice: Client;
let smallAlice: Client;
let roomId: string;
let smallRoomId: string;

beforeAll(async () => {
  [t, small] = await Promise.all([startTestApp(), startTestApp({ MEDIA_MAX_FILE_BYTES: '1000', MEDIA_MAX_FILES: '2' })]);
  alice = await t.as('alice');
  smallAlice = await small.as('alice');
  roomId = await room(alice);
  smallRoomId = await room(smallAlice);
});
afterAll(async () => Promise.all([t?.close(), small?.close()]));

/** After every refusal: no row, no stored object, no temp file, in either app. */
afterEach(async () => {
  for (const app of [t, small]) {
    expect(await mediaRows(app)).toBe(0);
    expect(await leftoverFiles(app)).toEqual([]);
  }
});

async function refused(files: UploadFile[], status: number, code: string, client = alice, id = roomId) {
  const res = await upload(client, id, files);
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  expect(res.body.code).toBe(code);
  return res.body as { detail: string };
}

describe('refused uploads leave nothing behind', () => {
  it('bytes that are not the declared type: 415', async () => {
    await refused([{ name: 'photo.png', type: 'application/pdf', data: await fx.png() }], 415, 'UNSUPPORTED_MEDIA_TYPE');
    await refused([{ name: 'notes.txt', type: 'image/png', data: fx.text() }], 415, 'UNSUPPORTED_MEDIA_TYPE');
    const body = await refused([{ name: 'clip.mp4', type: 'video/quicktime', data: fx.isoMovie() }], 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(body.detail).toContain('declared as video/quicktime but its content is video/mp4');
  });

  it('executables, whatever their name or declared type: 415', async () => {
    await refused([{ name: 'tool', type: 'application/octet-stream', data: fx.elf() }], 415, 'UNSUPPORTED_MEDIA_TYPE');
    await refused([{ name: 'cute-cat.png', type: 'image/png', data: fx.pe() }], 415, 'UNSUPPORTED_MEDIA_TYPE');
    await refused([{ name: 'setup.exe', type: 'application/x-msdownload', data: fx.pe() }], 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('other types outside the allowlist: a plain ZIP, an SVG, a compound file that is not Office, a .doc with macros', async () => {
    await refused([{ name: 'a.zip', type: 'application/zip', data: fx.zip({ 'a.txt': 'hello' }) }], 415, 'UNSUPPORTED_MEDIA_TYPE');
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    await refused([{ name: 'x.svg', type: 'image/svg+xml', data: svg }], 415, 'UNSUPPORTED_MEDIA_TYPE');
    await refused(
      [{ name: 'installer.msi', type: 'application/octet-stream', data: fx.cfb(['SummaryInformation']) }],
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    const body = await refused(
      [{ name: 'm.doc', type: 'application/msword', data: fx.cfb(['WordDocument', 'Macros']) }],
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expect(body.detail).toContain('macros');
  });

  it('bytes that only start like an accepted type: an image that cannot be decoded, a UTF-16 text (an MP3 frame sync): 415', async () => {
    const broken = Buffer.concat([(await fx.png()).subarray(0, 40), Buffer.alloc(100, 7)]);
    await refused([{ name: 'broken.png', type: 'image/png', data: broken }], 415, 'UNSUPPORTED_MEDIA_TYPE');
    await refused(
      [{ name: 'notes.txt', type: 'application/octet-stream', data: Buffer.from('\ufeffnotes in UTF-16', 'utf16le') }],
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it('an empty file: 400', async () => {
    await refused([{ name: 'empty.txt', type: 'text/plain', data: Buffer.alloc(0) }], 400, 'VALIDATION_FAILED');
  });

  it('a file over MEDIA_MAX_FILE_BYTES: 413', async () => {
    const body = await refused(
      [{ name: 'big.txt', type: 'text/plain', data: Buffer.alloc(1001, 0x61) }],
      413,
      'PAYLOAD_TOO_LARGE',
      smallAlice,
      smallRoomId,
    );
    expect(body.detail).toContain('1000 bytes');
    // Exactly the limit is fine (and is removed again for the afterEach check).
    const ok = await upload(smallAlice, smallRoomId, [{ name: 'edge.txt', type: 'text/plain', data: Buffer.alloc(1000, 0x61) }]);
    expect(ok.status).toBe(201);
    await small.app.services.media.discard(authOf('alice'), [ok.body.data[0].id]);
  });

  it('more files than MEDIA_MAX_FILES: 413, and the files already stored are removed', async () => {
    const tiny = { type: 'text/plain', data: Buffer.from('hi') };
    await refused(
      [
        { name: '1.txt', ...tiny },
        { name: '2.txt', ...tiny },
        { name: '3.txt', ...tiny },
      ],
      413,
      'PAYLOAD_TOO_LARGE',
      smallAlice,
      smallRoomId,
    );
    const eleven = Array.from({ length: 11 }, (_, i) => ({ name: `${i}.txt`, ...tiny }));
    await refused(eleven, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('an image claiming 60000×60000 pixels over a tiny payload: 413 without decoding it', async () => {
    const bomb = fx.pngBomb(60000, 60000);
    expect(bomb.length).toBeLessThan(200);
    const started = Date.now();
    const body = await refused([{ name: 'bomb.png', type: 'image/png', data: bomb }], 413, 'PAYLOAD_TOO_LARGE');
    expect(body.detail).toContain('3600000000 pixels');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('all or nothing: a good file before a refused one is not kept', async () => {
    await refused(
      [
        { name: 'good.png', type: 'image/png', data: await fx.png() },
        { name: 'good.pdf', type: 'application/pdf', data: fx.pdf() },
        { name: 'bad.elf', type: 'application/octet-stream', data: fx.elf() },
      ],
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    await refused(
      [
        { name: 'good.txt', type: 'text/plain', data: Buffer.from('fine') },
        { name: 'big.txt', type: 'text/plain', data: Buffer.alloc(5000, 0x61) },
      ],
      413,
      'PAYLOAD_TOO_LARGE',
      smallAlice,
      smallRoomId,
    );
  });

  it('a request that is not multipart (415), has no files (400), or puts files under another field (400)', async () => {
    const json = await alice.post(`/rooms/${roomId}/media`, { media: 'x' });
    expect([json.status, json.body.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const none = await alice.raw(`/rooms/${roomId}/media`, {
      method: 'POST',
      body: (() => {
        const f = new FormData();
        f.append('note', 'x');
        return f;
      })(),
    });
    expect([none.status, none.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    const wrong = new FormData();
    wrong.append('file', new Blob([fx.pdf()], { type: 'application/pdf' }), 'a.pdf');
    const res = await alice.raw(`/rooms/${roomId}/media`, { method: 'POST', body: wrong });
    expect([res.status, res.body.code]).toEqual([400, 'VALIDATION_FAILED']);
  });
});

describe('file names', () => {
  it('keeps only the last path part: ../../etc/passwd.png is stored under our own key as passwd.png', async () => {
    const res = await upload(alice, roomId, [{ name: '../../etc/passwd.png', type: 'image/png', data: await fx.png() }]);
    expect(res.status).toBe(201);
    expect(res.body.data[0].fileName).toBe('passwd.png');
    const files = await leftoverFiles(t);
    expect(files).toHaveLength(2);
    for (const f of files)
      expect(path.relative(path.join(t.config.dataDir, 'media'), f)).toMatch(new RegExp(`^${roomId}/[0-9a-f-]{36}(-thumb)?\\.(png|webp)$`));
    expect(await readdir(path.dirname(t.config.dataDir))).not.toContain('etc');
    await t.app.services.media.discard(authOf('alice'), [res.body.data[0].id]);
  });

  it('drops control and bidi characters, and never leaves a name empty', async () => {
    const res = await upload(alice, roomId, [
      { name: 'in\u0007voice\u202Egnp.exe', type: 'application/pdf', data: fx.pdf() },
      { name: '..', type: 'application/pdf', data: fx.pdf() },
    ]);
    expect(res.status).toBe(201);
    expect(res.body.data.map((m: any) => m.fileName)).toEqual(['invoicegnp.exe.pdf', 'file.pdf']);
    await t.app.services.media.discard(
      authOf('alice'),
      res.body.data.map((m: any) => m.id),
    );
  });
});

/** A multipart upload of `bytes` generated on the fly, stopping as soon as the server answers. */
function streamUpload(baseUrl: string, roomId: string, token: string, bytes: number): Promise<{ status: number; body: any }> {
  const boundary = `----chat${Date.now()}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="media"; filename="huge.txt"\r\nContent-Type: text/plain\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${baseUrl}/api/v1/chat/rooms/${roomId}/media`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': head.length + bytes + tail.length,
      },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        req.destroy();
      });
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    const pump = (): void => {
      while (!answered && sent < bytes) {
        const n = Math.min(chunk.length, bytes - sent);
        sent += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once('drain', pump);
      }
      if (!answered) req.end(tail);
    };
    req.write(head);
    pump();
  });
}

describe('memory', () => {
  it('stays flat while a 100 MB upload is refused at the 25 MiB default', async () => {
    expect(t.config.media.maxFileBytes).toBe(25 * 1024 * 1024);
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    try {
      const res = await streamUpload(t.baseUrl, roomId, alice.token, 100 * 1024 * 1024);
      expect(res.status).toBe(413);
      expect(res.body.code).toBe('PAYLOAD_TOO_LARGE');
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    // Buffering the upload would cost at least its size; streaming costs a few stream buffers.
    expect(peak - before).toBeLessThan(40 * 1024 * 1024);
  });
});
