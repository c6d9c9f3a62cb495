import { createECDH, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { browserKeys } from './helpers/notify.js';

let t: TestApp;
let alice: Client, bob: Client;

const subscription = (endpoint = `https://push.example.com/send/${randomBytes(12).toString('hex')}`) => {
  const k = browserKeys();
  return { endpoint, expirationTime: null, keys: { p256dh: k.p256dh, auth: k.auth } };
};
const del = (c: Client, path: string, body?: unknown) =>
  c.raw(path, { method: 'DELETE', ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
const endpoints = async (c: Client) => ((await c.get('/push/subscriptions')).body.data as Array<{ endpoint: string }>).map((s) => s.endpoint);

beforeAll(async () => {
  t = await startTestApp();
  alice = await t.as('alice', { name: 'Alice' });
  bob = await t.as('bob', { name: 'Bob' });
});
afterAll(async () => t?.close());

describe('Web Push subscriptions', () => {
  it('hands out the VAPID public key: an uncompressed P-256 point, the same on every call; not without a token', async () => {
    const res = await alice.get('/push/vapid-public-key');
    expect(res.status).toBe(200);
    const key = Buffer.from(res.body.publicKey, 'base64url');
    expect(key.length).toBe(65);
    expect(key[0]).toBe(4);
    expect(res.body.publicKey).toBe(t.config.notify.vapid!.publicKey);
    expect((await bob.get('/push/vapid-public-key')).body).toEqual(res.body);
    const anonymous = await fetch(`${t.baseUrl}/api/v1/chat/push/vapid-public-key`);
    expect(anonymous.status).toBe(401);
  });

  it('registers several subscriptions per user; the same endpoint again is 200 with the same id', async () => {
    const one = subscription();
    const created = await alice.post('/push/subscriptions', one);
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.any(String), endpoint: one.endpoint, expirationTime: null, createdAt: expect.any(String), updatedAt: expect.any(String) });
    expect(created.body).not.toHaveProperty('keys');
    // A browser re-sending its subscription, possibly with rotated keys.
    const again = await alice.post('/push/subscriptions', { ...subscription(one.endpoint), expirationTime: 4102444800000 });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: created.body.id, endpoint: one.endpoint, expirationTime: 4102444800000 });
    const two = subscription();
    expect((await alice.post('/push/subscriptions', two)).status).toBe(201);
    const local = subscription('http://localhost:8123/push/abc');
    expect((await alice.post('/push/subscriptions', local)).status).toBe(201);
    expect(await endpoints(alice)).toEqual([one.endpoint, two.endpoint, local.endpoint]);
    expect(await endpoints(bob)).toEqual([]);
  });

  it('moves an endpoint registered by another user to the caller (the browser now belongs to them)', async () => {
    const shared = subscription();
    const first = await alice.post('/push/subscriptions', shared);
    const moved = await bob.post('/push/subscriptions', shared);
    expect(moved.status).toBe(201);
    expect(moved.body.id).not.toBe(first.body.id);
    expect(await endpoints(alice)).not.toContain(shared.endpoint);
    expect(await endpoints(bob)).toContain(shared.endpoint);
    // Alice's old id no longer names anything of hers.
    expectProblem(await del(alice, `/push/subscriptions/${first.body.id}`), 404, 'NOT_FOUND');
  });

  it('deletes by endpoint or by id, 204; a second time, or another user\'s, is 404 and leaves it in place', async () => {
    const a = subscription();
    const b = subscription();
    await bob.post('/push/subscriptions', a);
    const bRow = (await bob.post('/push/subscriptions', b)).body;
    expectProblem(await del(alice, '/push/subscriptions', { endpoint: a.endpoint }), 404, 'NOT_FOUND');
    expectProblem(await del(alice, `/push/subscriptions/${bRow.id}`), 404, 'NOT_FOUND');
    expect(await endpoints(bob)).toEqual(expect.arrayContaining([a.endpoint, b.endpoint]));

    const gone = await del(bob, '/push/subscriptions', { endpoint: a.endpoint });
    expect(gone.status).toBe(204);
    expect(gone.body).toBe('');
    expect((await del(bob, `/push/subscriptions/${bRow.id}`)).status).toBe(204);
    expect(await endpoints(bob)).not.toEqual(expect.arrayContaining([a.endpoint]));
    expect(await endpoints(bob)).not.toContain(b.endpoint);
    expectProblem(await del(bob, '/push/subscriptions', { endpoint: a.endpoint }), 404, 'NOT_FOUND');
    expectProblem(await del(bob, `/push/subscriptions/${bRow.id}`), 404, 'NOT_FOUND');
    expectProblem(await del(bob, '/push/subscriptions/not-an-id'), 404, 'NOT_FOUND');
    expectProblem(await del(bob, '/push/subscriptions', {}), 400, 'VALIDATION_FAILED');
    expectProblem(await del(bob, '/push/subscriptions', { endpoint: a.endpoint, userId: 'alice' }), 400, 'VALIDATION_FAILED');
  });

  it('refuses malformed subscriptions with VALIDATION_FAILED and stores nothing', async () => {
    const carol = await t.as('carol');
    const good = subscription();
    const k = good.keys;
    const b64 = (bytes: Buffer) => bytes.toString('base64url');
    const compressed = createECDH('prime256v1');
    compressed.generateKeys();
    const offCurve = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 7)]);
    const cases: Array<[string, unknown, string]> = [
      ['no body', undefined, ''],
      ['an array', [good], ''],
      ['no endpoint', { keys: k }, '/endpoint'],
      ['no keys', { endpoint: good.endpoint }, '/keys'],
      ['no auth key', { endpoint: good.endpoint, keys: { p256dh: k.p256dh } }, '/keys/auth'],
      ['a number endpoint', { endpoint: 42, keys: k }, '/endpoint'],
      ['an endpoint that is no URL', { endpoint: 'push.example.com/abc', keys: k }, '/endpoint'],
      ['an http endpoint elsewhere', { endpoint: 'http://push.example.com/abc', keys: k }, '/endpoint'],
      ['another scheme', { endpoint: 'ftp://push.example.com/abc', keys: k }, '/endpoint'],
      ['credentials in the endpoint', { endpoint: 'https://user:pw@push.example.com/abc', keys: k }, '/endpoint'],
      ['a very long endpoint', { endpoint: `https://push.example.com/${'a'.repeat(2100)}`, keys: k }, '/endpoint'],
      ['a userId (for another user)', { ...good, userId: 'carol' }, ''],
      ['p256dh of 64 bytes', { endpoint: good.endpoint, keys: { ...k, p256dh: b64(randomBytes(64)) } }, '/keys/p256dh'],
      ['a compressed p256dh', { endpoint: good.endpoint, keys: { ...k, p256dh: b64(compressed.getPublicKey(null, 'compressed')) } }, '/keys/p256dh'],
      ['a p256dh off the curve', { endpoint: good.endpoint, keys: { ...k, p256dh: b64(offCurve) } }, '/keys/p256dh'],
      ['auth of 15 bytes', { endpoint: good.endpoint, keys: { ...k, auth: b64(randomBytes(15)) } }, '/keys/auth'],
      ['auth of 17 bytes', { endpoint: good.endpoint, keys: { ...k, auth: b64(randomBytes(17)) } }, '/keys/auth'],
      ['standard base64 keys', { endpoint: good.endpoint, keys: { ...k, auth: '+/+/+/+/+/+/+/+/+/+/+w' } }, '/keys/auth'],
      ['an empty key', { endpoint: good.endpoint, keys: { ...k, p256dh: '' } }, '/keys/p256dh'],
      ['a text expirationTime', { ...good, expirationTime: 'tomorrow' }, '/expirationTime'],
    ];
    for (const [name, body, path] of cases) {
      const res = await carol.post('/push/subscriptions', body);
      expect({ name, status: res.status, code: res.body?.code }).toEqual({ name, status: 400, code: 'VALIDATION_FAILED' });
      expectProblem(res, 400, 'VALIDATION_FAILED');
      const paths: string[] = res.body.errors.map((e: { path: string }) => e.path);
      expect({ name, paths: paths.length > 0 && paths.every((p) => p.startsWith(path)) }).toEqual({ name, paths: true });
    }
    expect(await endpoints(carol)).toEqual([]);
    // The same key material, well formed, is taken.
    expect((await carol.post('/push/subscriptions', good)).status).toBe(201);
  });
});

describe('in production', () => {
  it('refuses http://localhost endpoints when Web Push is on, and answers 404 when it is off', async () => {
    const vapid = createECDH('prime256v1');
    vapid.generateKeys();
    const prod = await startTestApp({
      NODE_ENV: 'production',
      VAPID_PUBLIC_KEY: vapid.getPublicKey('base64url'),
      VAPID_PRIVATE_KEY: vapid.getPrivateKey('base64url'),
      VAPID_SUBJECT: 'mailto:ops@chat.example.com',
    });
    const off = await startTestApp({ NODE_ENV: 'production' });
    try {
      const dave = await prod.as('dave');
      expect((await dave.get('/push/vapid-public-key')).body).toEqual({ publicKey: vapid.getPublicKey('base64url') });
      expectProblem(await dave.post('/push/subscriptions', subscription('http://localhost:8123/push/abc')), 400, 'VALIDATION_FAILED');
      expectProblem(await dave.post('/push/subscriptions', subscription('http://127.0.0.1:8123/push/abc')), 400, 'VALIDATION_FAILED');
      expect((await dave.post('/push/subscriptions', subscription())).status).toBe(201);
      expect(await endpoints(dave)).toHaveLength(1);

      const erin = await off.as('erin');
      expectProblem(await erin.get('/push/vapid-public-key'), 404, 'NOT_FOUND');
      expectProblem(await erin.post('/push/subscriptions', subscription()), 404, 'NOT_FOUND');
      expect(await endpoints(erin)).toEqual([]);
    } finally {
      await prod.close();
      await off.close();
    }
  });
});
