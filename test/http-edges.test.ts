import { connect as netConnect } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_PREFIX, buildApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { redactUrl } from '../src/http/edges.js';
import { isOutage } from '../src/http/errors.js';
import { request, startTestApp, TEST_JWT_SECRET, type Res, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { sleep } from './helpers/sockets.js';
import { png } from './media-fixtures.js';
import { leftoverFiles, mediaRows } from './media-helpers.js';

/**
 * The edges of HTTP, on an app whose log is read: URLs the router cannot take, requests Node's parser refuses,
 * multipart bodies cut short or abandoned, and credentials in query strings. Every answer is problem+json with a
 * catalogue code, no edge is logged as a bug or an outage, and no secret reaches the log.
 */

interface LogLine {
  level: number;
  msg?: string;
  [k: string]: unknown;
}

let t: TestApp;
let app: App;
let baseUrl: string;
let port: number;
const log: LogLine[] = [];
let logText = '';
let aliceToken: string;
let roomId: string;

beforeAll(async () => {
  t = await startTestApp();
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        logText += `${line}\n`;
        log.push(JSON.parse(line) as LogLine);
      }
      done();
    },
  });
  // Its own app on the test app's database and data directory, logging everything to `stream`.
  const config = loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, DATA_DIR: t.config.dataDir, LOG_LEVEL: 'trace', PORT: '0' });
  // The database stays open for t to close (and drop).
  app = await buildApp(config, { database: { ...t.app.database, close: async () => {} }, logStream: stream });
  await app.http.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.http.server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
  baseUrl = `http://127.0.0.1:${port}`;
  aliceToken = await t.token('alice');
  await api('/rooms', {}, await t.token('bob'));
  roomId = (
    await api('/rooms', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'group', name: 'edges', participantIds: ['bob'] }),
    })
  ).body.id;
});
afterAll(async () => {
  await app?.close();
  await t?.close();
});

/** A request to the logged app, as alice unless another token (or null: none) is given. */
const api = (path: string, init: RequestInit = {}, token: string | null = aliceToken): Promise<Res> =>
  request(baseUrl, path, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) } });

const serious = () => log.filter((l) => l.level >= 40);

/** Sends raw bytes and reads the whole answer (the server closes, or `end` closes our side after sending). */
function raw(bytes: Buffer | string, opts: { end?: boolean; destroyAfterMs?: number } = {}): Promise<Res & { text: string }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => (chunks.length ? undefined : reject(err)));
    socket.on('close', () => resolve(parse(Buffer.concat(chunks))));
    socket.write(bytes);
    if (opts.end) socket.end();
    if (opts.destroyAfterMs !== undefined) setTimeout(() => socket.destroy(), opts.destroyAfterMs);
  });
}

function parse(buf: Buffer): Res & { text: string } {
  const text = buf.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...headerLines] = (split < 0 ? text : text.slice(0, split)).split('\r\n');
  const headers = new Headers();
  for (const h of headerLines) {
    const i = h.indexOf(':');
    if (i > 0) headers.append(h.slice(0, i).trim(), h.slice(i + 1).trim());
  }
  let body = split < 0 ? '' : buf.subarray(Buffer.byteLength(text.slice(0, split + 4), 'latin1')).toString('utf8');
  if (headers.get('transfer-encoding') === 'chunked') {
    let out = '';
    for (let rest = body; ;) {
      const nl = rest.indexOf('\r\n');
      const size = parseInt(rest.slice(0, nl), 16);
      if (!size) break;
      out += rest.slice(nl + 2, nl + 2 + size);
      rest = rest.slice(nl + 2 + size + 2);
    }
    body = out;
  }
  const status = Number(statusLine.split(' ')[1] ?? 0);
  return { status, headers, body: (headers.get('content-type') ?? '').includes('json') && body ? JSON.parse(body) : body, text };
}

describe('URLs the router cannot take (finding 11)', () => {
  it.each([
    ['a room id of 600 characters', 'GET', `/rooms/${'a'.repeat(600)}`],
    ['a room id of 600 characters, unauthenticated', 'GET', `/rooms/${'a'.repeat(600)}/messages`],
    ['a user id of 600 characters', 'PATCH', `/rooms/ROOM/participants/${'u'.repeat(600)}/remove`],
  ])('%s is 404 NOT_FOUND as problem+json', async (what, method, path) => {
    const res = await api(path.replace('ROOM', roomId), { method }, what.includes('unauth') ? null : aliceToken);
    expectProblem(res, 404, 'NOT_FOUND');
  });

  it('a media key of 600 characters (a wildcard, not a parameter) is refused as problem+json', async () => {
    expectProblem(await request(baseUrl, `/api/../media/${'k'.repeat(600)}?exp=1&sig=x`), 403, 'FORBIDDEN');
  });

  it.each([
    ['a cut percent-escape', '/rooms/%E0%A4%A'],
    ['an escape that is not UTF-8', '/rooms/%FF'],
    ['a lone surrogate escaped as UTF-8', `/rooms/ROOM/participants/%ED%A0%80/remove`],
    ['a bad escape in a second segment', '/rooms/ROOM/messages%E0'],
  ])('a path with %s is 400 VALIDATION_FAILED as problem+json', async (_what, path) => {
    expectProblem(await api(path.replace('ROOM', roomId), { method: path.endsWith('remove') ? 'PATCH' : 'GET' }), 400, 'VALIDATION_FAILED');
  });

  it('a query string larger than Node accepts is 413 PAYLOAD_TOO_LARGE as problem+json', async () => {
    const res = await raw(
      `GET ${API_PREFIX}/rooms?x=${'a'.repeat(100_000)} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${aliceToken}\r\n\r\n`,
    );
    expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('a long query string under the limit is answered normally', async () => {
    expect((await api(`/rooms?x=${'a'.repeat(8_000)}`)).status).toBe(200);
  });

  it('an HTTP/1.1 request without any header is 400 VALIDATION_FAILED as problem+json', async () => {
    const res = await raw(`GET ${API_PREFIX}/rooms HTTP/1.1\r\n\r\n`, { end: true });
    expectProblem(res, 400, 'VALIDATION_FAILED');
  });

  it('an HTTP/1.0 request without any header is asked for a token', async () => {
    const res = await raw(`GET ${API_PREFIX}/rooms HTTP/1.0\r\n\r\n`, { end: true });
    expectProblem(res, 401, 'UNAUTHORIZED');
  });

  it('a path with raw bytes that are not UTF-8 is answered as problem+json', async () => {
    const head = Buffer.concat([
      Buffer.from(`GET ${API_PREFIX}/rooms/`),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from(` HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${aliceToken}\r\nConnection: close\r\n\r\n`),
    ]);
    const res = await raw(head);
    expect([400, 404]).toContain(res.status);
    expectProblem(res, res.status, res.status === 404 ? 'NOT_FOUND' : 'VALIDATION_FAILED');
  });

  it('bytes that are not HTTP are 400 VALIDATION_FAILED as problem+json', async () => {
    expectProblem(await raw('HELLO THERE\r\n\r\n'), 400, 'VALIDATION_FAILED');
    expectProblem(await raw(`GET ${API_PREFIX}/rooms HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n`), 400, 'VALIDATION_FAILED');
  });

  it('an Expect the server cannot meet is 400 VALIDATION_FAILED as problem+json', async () => {
    const res = await raw(
      `GET ${API_PREFIX}/rooms HTTP/1.1\r\nHost: localhost\r\nExpect: teapot\r\nAuthorization: Bearer ${aliceToken}\r\n\r\n`,
    );
    expectProblem(res, 400, 'VALIDATION_FAILED');
  });

  it('none of these was logged as a bug', () => {
    expect(serious()).toEqual([]);
  });
});

describe('secrets in the request log (finding 9)', () => {
  it('redactUrl blanks the values of credential parameters, however the name is written', () => {
    expect(redactUrl('/a?token=abc&x=1')).toBe('/a?token=[redacted]&x=1');
    expect(redactUrl('/a?x=1&ACCESS_TOKEN=abc')).toBe('/a?x=1&ACCESS_TOKEN=[redacted]');
    expect(redactUrl('/a?to%6Ben=abc&sig=s&signature=s2')).toBe('/a?to%6Ben=[redacted]&sig=[redacted]&signature=[redacted]');
    expect(redactUrl('/a?X-Amz-Signature=s&X-Amz-Credential=c&X-Amz-Security-Token=t&X-Amz-Expires=60')).toBe(
      '/a?X-Amz-Signature=[redacted]&X-Amz-Credential=[redacted]&X-Amz-Security-Token=[redacted]&X-Amz-Expires=60',
    );
    expect(redactUrl('/a?token&%E0=1')).toBe('/a?token=[redacted]&%E0=1');
    expect(redactUrl('/a/b')).toBe('/a/b');
  });

  it.each(['token', 'access_token', 'Access_Token', 'to%6Ben'])('a JWT passed as ?%s= is refused and never logged', async (name) => {
    const jwt = await t.token('alice');
    const secret = jwt.split('.')[2]!;
    const res = await api(`/rooms?${name}=${jwt}`, {}, null);
    expectProblem(res, 401, 'UNAUTHORIZED');
    // Even when the request also carries a good header and succeeds.
    expect((await api(`/rooms?${name}=${jwt}`)).status).toBe(200);
    await sleep(20);
    expect(logText).not.toContain(secret);
    expect(logText).toContain(`${name}=[redacted]`);
  });

  it('a signed media URL is served, but its signature is not logged', async () => {
    const fd = new FormData();
    fd.append('content', 'look');
    fd.append('media', new Blob([new Uint8Array(await png())], { type: 'image/png' }), 'a.png');
    const sent = await api(`/rooms/${roomId}/messages`, { method: 'POST', body: fd });
    expect(sent.status).toBe(201);
    const media = sent.body.media[0];
    for (const url of [media.url, media.thumbnailUrl] as string[]) {
      const local = new URL(url);
      const res = await fetch(`${baseUrl}${local.pathname}${local.search}`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      const sig = local.searchParams.get('sig')!;
      expect(sig.length).toBeGreaterThan(10);
      await sleep(20);
      expect(logText).not.toContain(sig);
      expect(logText).not.toContain(encodeURIComponent(sig));
    }
    expect(logText).toContain('sig=[redacted]');
  });
});

describe('multipart bodies cut short (finding 7)', () => {
  const BOUNDARY = '----edge-boundary';
  const partHead = (name: string, file?: string) =>
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"${file ? `; filename="${file}"\r\nContent-Type: image/png` : ''}\r\n\r\n`;

  async function cutRequest(path: string, body: Buffer, declared = body.length): Promise<string> {
    return (
      `POST ${API_PREFIX}${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${aliceToken}\r\n` +
      `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${declared}\r\nConnection: close\r\n\r\n`
    );
  }

  /** The media rows and files (stored and temporary) there are now. */
  const stored = async () => ({
    rows: await mediaRows(t),
    files: (await leftoverFiles(t)).sort(),
    messages: (await api(`/rooms/${roomId}/messages`)).body.data.length as number,
  });

  async function expectNothingKept(before: Awaited<ReturnType<typeof stored>>): Promise<void> {
    // Clean-up after an abort runs after the socket is gone: wait for it.
    for (let i = 0; i < 50 && JSON.stringify(await stored()) !== JSON.stringify(before); i++) await sleep(50);
    expect(await stored()).toEqual(before);
  }

  it.each([
    ['a file part without its closing boundary', '/rooms/ROOM/media', true],
    ['a message whose file part has no closing boundary', '/rooms/ROOM/messages', true],
    ['a message whose only field has no closing boundary', '/rooms/ROOM/messages', false],
  ])('%s is 400 VALIDATION_FAILED and keeps nothing', async (_what, path, withFile) => {
    const rows = await stored();
    const before = log.length;
    const body = withFile
      ? Buffer.concat([Buffer.from(`${partHead('content')}hi\r\n${partHead('media', 'a.png')}`), await png()])
      : Buffer.from(`${partHead('content')}hi there`);
    const res = await raw(Buffer.concat([Buffer.from(await cutRequest(path.replace('ROOM', roomId), body)), body]));
    expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(res.body.detail).toMatch(/multipart/i);
    await expectNothingKept(rows);
    expect(log.slice(before).filter((l) => l.level >= 40)).toEqual([]);
  });

  it.each([
    ['no boundary', 'multipart/form-data'],
    ['an empty boundary', 'multipart/form-data; boundary='],
    ['a boundary of 300 characters', `multipart/form-data; boundary=${'b'.repeat(300)}`],
  ])('a multipart Content-Type with %s is 400 VALIDATION_FAILED and keeps nothing', async (_what, type) => {
    const rows = await stored();
    const before = log.length;
    for (const path of [`/rooms/${roomId}/media`, `/rooms/${roomId}/messages`]) {
      const res = await api(path, {
        method: 'POST',
        headers: { 'content-type': type },
        body: `--x\r\nContent-Disposition: form-data; name="content"\r\n\r\nhi\r\n--x--\r\n`,
      });
      expectProblem(res, 400, 'VALIDATION_FAILED');
    }
    await expectNothingKept(rows);
    expect(log.slice(before).filter((l) => l.level >= 40)).toEqual([]);
  });

  it.each([
    ['an upload', '/rooms/ROOM/media'],
    ['a multipart message', '/rooms/ROOM/messages'],
  ])('%s the client abandons halfway keeps nothing and raises no outage alarm', async (_what, path) => {
    const rows = await stored();
    const before = log.length;
    const file = Buffer.concat([await png(), Buffer.alloc(200_000, 1)]);
    const body = Buffer.concat([Buffer.from(`${partHead('content')}hi\r\n${partHead('media', 'a.png')}`), file]);
    const head = await cutRequest(path.replace('ROOM', roomId), body, body.length + 1000);
    await raw(Buffer.concat([Buffer.from(head), body.subarray(0, 150_000)]), { destroyAfterMs: 150 });
    await expectNothingKept(rows);
    // The request is logged as finished (its answer went nowhere), and nothing of it as a bug or an outage.
    for (let i = 0; i < 40 && !log.slice(before).some((l) => l.msg === 'request completed' || l.msg === 'client aborted the request'); i++)
      await sleep(50);
    const lines = log.slice(before);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
    expect(lines.some((l) => /backing service/.test(String(l.msg)))).toBe(false);
  });

  it('a request stream abort is not an outage; a database connection reset still is', () => {
    expect(isOutage(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))).toBe(false);
    expect(isOutage(Object.assign(new Error('wrapper'), { cause: Object.assign(new Error('aborted'), { code: 'ECONNRESET' }) }))).toBe(
      false,
    );
    expect(isOutage(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' }))).toBe(true);
    expect(
      isOutage(
        Object.assign(new Error('query failed'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }),
      ),
    ).toBe(true);
  });

  it('a Redis Cluster failing over is an outage (503, retry), not a bug', () => {
    // What ioredis's Cluster rejects with while a replica takes over its master's slots.
    for (const message of [
      'Too many Cluster redirections. Last error: ReplyError: MOVED 8088 127.0.0.1:34377',
      'CLUSTERDOWN The cluster is down',
      'TRYAGAIN Multiple keys request during rehashing of slot',
      'Failed to refresh slots cache.',
    ]) {
      expect(isOutage(new Error(message)), message).toBe(true);
    }
    expect(isOutage(Object.assign(new Error('x'), { name: 'ClusterAllFailedError' }))).toBe(true);
    // A reply error that is the request's own fault stays a bug.
    expect(isOutage(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(false);
    expect(isOutage(new Error('the CLUSTERDOWN handling failed'))).toBe(false);
  });
});
