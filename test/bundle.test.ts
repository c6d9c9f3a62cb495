import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import type { AckResponse } from '../src/contract/events.js';
import { request, TEST_JWT_SECRET } from './helpers/app.js';
import { startService, type ServiceProcess } from './helpers/process.js';
import { connect } from './helpers/sockets.js';
import { form } from './media-helpers.js';

const repo = path.join(import.meta.dirname, '..');
const bundle = path.join(repo, 'dist', 'server', 'main.js');
// What `npm start` runs once built (scripts/bundle.mjs). Once, in the PGlite project: it starts its own databases.
const here = inject('template').kind === 'pglite';

/**
 * The bundle is the service with its dependencies inlined, so what can break is what finds files at run time or must
 * be one instance: the migrations, the PGlite worker's thread, the web app, socket.io's own client, the API docs'
 * static files, pino's pretty printer in its worker, the WebSocket transport the service patches, media and metrics.
 */
describe.runIf(here)('the built bundle (dist/server/main.js)', () => {
  const dirs: string[] = [];
  const running: ServiceProcess[] = [];
  const dataDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'chat-bundle-'));
    dirs.push(dir);
    return dir;
  };
  const start = async (env: Record<string, string>) => {
    const svc = await startService({ JWT_SECRET: TEST_JWT_SECRET, ...env }, [bundle]);
    running.push(svc);
    return svc;
  };
  /** Ada's token and a group room she made with Bob. */
  const adaWithRoom = async (svc: ServiceProcess) => {
    const token = await mintToken(TEST_JWT_SECRET, 'ada');
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const room = await request(svc.url, '/rooms', {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ type: 'group', name: 'bundled', participantIds: ['bob'] }),
    });
    expect(room.status).toBe(201);
    return { token, auth, room };
  };
  afterAll(async () => {
    for (const svc of running) await svc.kill('SIGTERM');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('is built (npm run build; npm install runs it)', () => {
    expect(existsSync(bundle)).toBe(true);
  });

  it('starts on an empty DATA_DIR; serves the web app, the docs, socket.io, media and metrics; a socket sends', async () => {
    const svc = await start({ DATA_DIR: dataDir() });
    expect((await request(svc.url, '/health')).status).toBe(200);

    const page = await fetch(`${svc.url}/`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');
    const client = await fetch(`${svc.url}/socket.io/socket.io.js`);
    expect(client.status).toBe(200);
    expect(await client.text()).toContain('Socket.IO');
    const docs = await fetch(`${svc.url}/docs/static/index.html`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger-ui');
    const spec = await request(svc.url, '/docs/json');
    expect(spec.status).toBe(200);
    expect(spec.body.paths['/api/v1/chat/rooms']).toBeDefined();

    const { token, auth, room } = await adaWithRoom(svc);
    const socket = await connect(svc.url, token, { ready: true });
    try {
      const ack = await new Promise<AckResponse<{ id: string; content: string }>>((resolve) =>
        socket.emit('send_message', { chatRoomId: room.body.id, content: 'from the bundle', clientMessageId: 'b-1' }, resolve as never),
      );
      expect(ack).toMatchObject({ ok: true, data: { content: 'from the bundle' } });
    } finally {
      socket.close();
    }
    const history = await request(svc.url, `/rooms/${room.body.id}/messages`, { headers: auth });
    expect(history.body.data.map((m: { content: string }) => m.content)).toEqual(['from the bundle']);

    // An image upload: multipart, file-type's sniffing (bundled) and sharp's thumbnail (native, outside).
    const png = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#3399ff' } })
      .png()
      .toBuffer();
    const uploaded = await request(svc.url, `/rooms/${room.body.id}/media`, {
      method: 'POST',
      headers: { authorization: auth.authorization },
      body: form([{ name: 'a.png', type: 'image/png', data: png }]),
    });
    expect(uploaded.status).toBe(201);
    expect(uploaded.body.data[0]).toMatchObject({ kind: 'image', mimeType: 'image/png' });
    const withImage = await request(svc.url, `/rooms/${room.body.id}/messages`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ content: 'a picture', mediaIds: [uploaded.body.data[0].id] }),
    });
    expect(withImage.status).toBe(201);
    const [attachment] = withImage.body.media;
    expect(attachment).toMatchObject({ mimeType: 'image/png', width: 400, height: 300 });
    // Signed for PUBLIC_URL (localhost:3000 by default): the same path on this service's port.
    const { pathname, search } = new URL(attachment.thumbnailUrl);
    const thumb = await fetch(`${svc.url}${pathname}${search}`);
    expect(thumb.status).toBe(200);
    expect((await sharp(Buffer.from(await thumb.arrayBuffer())).metadata()).width).toBeLessThanOrEqual(320);

    const metrics = await request(svc.url, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('process_cpu_seconds_total');
  }, 60_000);

  it('runs PGlite in its worker thread, and pretty logs through pino’s worker', async () => {
    const svc = await start({ DATA_DIR: dataDir(), EMBEDDED_ENGINE: 'pglite', LOG_FORMAT: 'pretty' });
    const { auth, room } = await adaWithRoom(svc);
    const sent = await request(svc.url, `/rooms/${room.body.id}/messages`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ content: 'on PGlite' }),
    });
    expect(sent.status).toBe(201);
    expect(svc.output()).toMatch(/INFO.*chat service ready/);
    expect(svc.output()).not.toContain('{"level"');
  }, 60_000);
});
