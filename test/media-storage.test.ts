import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/ids.js';
import type { MediaStorage } from '../src/media/storage/index.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import * as fx from './media-fixtures.js';
import {
  authOf,
  cloudinaryEnv,
  fetchBytes,
  leftoverFiles,
  mediaRows,
  room,
  s3Env,
  startFakeCloudinary,
  startS3rver,
  upload,
  verifySigV4,
  type FakeCloudinary,
  type FakeS3,
} from './media-helpers.js';

let s3: FakeS3;
let cloud: FakeCloudinary;
let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'chat-media-store-'));
  [s3, cloud] = await Promise.all([startS3rver(path.join(scratch, 's3')), startFakeCloudinary()]);
});
afterAll(async () => {
  await Promise.all([s3?.close(), cloud?.close()]);
  await rm(scratch, { recursive: true, force: true });
});

interface Driver {
  name: 'local' | 's3' | 'cloudinary';
  env: () => Record<string, string>;
  /** How many objects the store holds now. */
  objects(t: TestApp): Promise<number>;
}

const drivers: Driver[] = [
  { name: 'local', env: () => ({}), objects: async (t) => (await leftoverFiles(t)).length },
  {
    name: 's3',
    env: () => s3Env(s3),
    objects: async () => {
      const client = new S3Client({
        region: 'us-east-1',
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      });
      const res = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
      client.destroy();
      return res.KeyCount ?? 0;
    },
  },
  { name: 'cloudinary', env: () => cloudinaryEnv(cloud), objects: async () => cloud.assets.size },
];

describe.each(drivers)('the $name driver', (driver) => {
  let t: TestApp;
  let storage: MediaStorage;
  /** Local URLs name PUBLIC_URL; the test reaches the app on its real port. */
  const reach = (url: string) => url.replace(t.config.publicUrl, t.baseUrl);
  const now = () => Math.floor(Date.now() / 1000);
  const key = (ext: string) => `${newId()}/${newId()}.${ext}`;

  beforeAll(async () => {
    t = await startTestApp(driver.env());
    storage = t.app.services.media.storage;
  });
  afterAll(async () => t?.close());

  async function put(k: string, data: Buffer, contentType: string, disposition: 'inline' | 'attachment' = 'inline') {
    const file = path.join(scratch, `put-${newId()}`);
    await writeFile(file, data);
    await storage.put(k, file, { contentType, disposition, fileName: 'résumé final.pdf', size: data.length });
    await rm(file, { force: true });
  }
  const urlFor = (k: string, disposition: 'inline' | 'attachment' = 'inline', issuedAt = now(), expiresAt = now() + 600) =>
    storage.signedUrl(k, { issuedAt, expiresAt, disposition, fileName: 'résumé final.pdf' });

  it('is the driver MEDIA_STORAGE selects', () => {
    expect(storage.driver).toBe(driver.name);
  });

  it('stores a file and reads it back through a signed URL', async () => {
    const data = await fx.png(20, 20);
    const k = key('png');
    await put(k, data, 'image/png');
    const res = await fetchBytes(reach(await urlFor(k)));
    expect(res.status).toBe(200);
    expect(res.body.equals(data)).toBe(true);
    if (driver.name !== 'cloudinary') expect(res.headers.get('content-type')).toBe('image/png');
  });

  it('offers documents as attachments', async () => {
    const k = key('pdf');
    await put(k, fx.pdf(), 'application/pdf', 'attachment');
    const res = await fetchBytes(reach(await urlFor(k, 'attachment')));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment/);
    if (driver.name !== 'cloudinary')
      expect(res.headers.get('content-disposition')).toContain("filename*=UTF-8''r%C3%A9sum%C3%A9%20final.pdf");
  });

  it('refuses a tampered URL and an expired one', async () => {
    const k = key('pdf');
    await put(k, fx.pdf(), 'application/pdf', 'attachment');
    const url = new URL(reach(await urlFor(k, 'attachment')));
    const sigParam = driver.name === 's3' ? 'X-Amz-Signature' : driver.name === 'cloudinary' ? 'signature' : 'sig';
    const tampered = new URL(url);
    tampered.searchParams.set(
      sigParam,
      url.searchParams.get(sigParam)!.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')),
    );
    // The same URL for another object: the key's room part changed (it appears unencoded in every driver's URL).
    const otherKey = new URL(url.toString().replace(k.split('/')[0]!, newId()));
    // Local: 403 problem+json. The Cloudinary stand-in answers as its API does for a bad signature (401) or expiry.
    const refused = driver.name === 'cloudinary' ? [401, 403] : [403];
    if (driver.name === 's3') {
      expect(verifySigV4(url.toString(), 'S3RVER')).toBe(true);
      expect(verifySigV4(tampered.toString(), 'S3RVER')).toBe(false);
      expect(verifySigV4(otherKey.toString(), 'S3RVER')).toBe(false);
    } else {
      expect(refused).toContain((await fetch(tampered)).status);
      expect(refused).toContain((await fetch(otherKey)).status);
    }
    const expired = await urlFor(k, 'attachment', now() - 120, now() - 60);
    expect(refused).toContain((await fetch(reach(expired))).status);
  });

  it('deletes, idempotently: the URL then finds nothing', async () => {
    const k = key('txt');
    await put(k, fx.text(), 'text/plain; charset=utf-8', 'attachment');
    const url = reach(await urlFor(k, 'attachment'));
    expect((await fetch(url)).status).toBe(200);
    await storage.delete(k);
    await storage.delete(k);
    expect((await fetch(url)).status).toBe(404);
  });

  it('serves an upload through the app, and leaves nothing in the store when a request is refused', async () => {
    const alice = await t.as('alice');
    await (await t.as('bob')).get('/rooms');
    const roomId = await room(alice);
    const before = await driver.objects(t);
    const refused = await upload(alice, roomId, [
      { name: 'ok.png', type: 'image/png', data: await fx.png() },
      { name: 'ok.pdf', type: 'application/pdf', data: fx.pdf() },
      { name: 'bad.bin', type: 'application/octet-stream', data: fx.pe() },
    ]);
    expect(refused.status).toBe(415);
    expect(await driver.objects(t)).toBe(before);
    expect(await mediaRows(t)).toBe(0);

    const res = await upload(alice, roomId, [{ name: 'gps.jpg', type: 'image/jpeg', data: await fx.jpegWithGps() }]);
    expect(res.status).toBe(201);
    // The image and its thumbnail.
    expect(await driver.objects(t)).toBe(before + 2);
    const rows = await t.app.database.db.query.chatMedia.findMany();
    const [view] = await t.app.services.media.views(rows);
    const image = await fetchBytes(reach(view!.url));
    expect(image.status).toBe(200);
    expect(image.body.includes(Buffer.from('TestCam'))).toBe(false);
    expect((await fetchBytes(reach(view!.thumbnailUrl!))).status).toBe(200);

    await t.app.services.media.discard(
      authOf('alice'),
      rows.map((r) => r.id),
    );
    expect(await driver.objects(t)).toBe(before);
  });
});

describe('the Cloudinary stand-in saw what Cloudinary would', () => {
  it('signed uploads into authenticated delivery, under the chat folder, by resource type', () => {
    const uploads = cloud.requests.filter((r) => r.path.endsWith('/upload'));
    expect(uploads.length).toBeGreaterThan(0);
    for (const u of uploads) {
      expect(u.params).toMatchObject({ type: 'authenticated', api_key: cloud.apiKey });
      expect(u.params['public_id']).toMatch(/^chat\/[0-9a-f-]{36}\/[0-9a-f-]{36}/);
    }
    expect(uploads.some((u) => u.path.endsWith('/raw/upload') && u.params['public_id']!.endsWith('.pdf'))).toBe(true);
    expect(uploads.some((u) => u.path.endsWith('/image/upload') && !u.params['public_id']!.includes('.'))).toBe(true);
  });
});
