import { createECDH, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import { browserKeys, testResolver } from './helpers/notify.js';

let t: TestApp;
let alice: Client, bob: Client;
/** A public address (no connection is made to it: nothing here sends a notification). */
const PUBLIC = '93.184.216.34';
const dns = testResolver({
  'push.example.com': [PUBLIC, '2606:2800:220:1:248:1893:25c8:1946'],
  'metadata.example.com': ['169.254.169.254'],
  'intranet.example.com': ['10.20.30.40'],
  'mixed.example.com': [PUBLIC, '127.0.0.1'],
  'mapped.example.com': ['::ffff:127.0.0.1'],
});

const subscription = (endpoint = `https://push.example.com/send/${randomBytes(12).toString('hex')}`) => {
  const k = browserKeys();
  return { endpoint, expirationTime: null, keys: { p256dh: k.p256dh, auth: k.auth } };
};
const del = (c: Client, path: string, body?: unknown) =>
  c.raw(path, {
    method: 'DELETE',
    ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
  });
const endpoints = async (c: Client) =>
  ((await c.get('/push/subscriptions')).body.data as Array<{ endpoint: string }>).map((s) => s.endpoint);

beforeAll(async () => {
  t = await startTestApp({}, { resolve: dns.resolve });
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
    expect(created.body).toEqual({
      id: expect.any(String),
      endpoint: one.endpoint,
      expirationTime: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(created.body).not.toHaveProperty('keys');
    // A browser re-sending its subscription, possibly with rotated keys.
    const again = await alice.post('/push/subscriptions', { ...subscription(one.endpoint), expirationTime: 4102444800000 });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: created.body.id, endpoint: one.endpoint, expirationTime: 4102444800000 });
    const two = subscription();
    expect((await alice.post('/push/subscriptions', two)).status).toBe(201);
    const literal = subscription(`https://${PUBLIC}:8443/push/abc`);
    expect((await alice.post('/push/subscriptions', literal)).status).toBe(201);
    expect(await endpoints(alice)).toEqual([one.endpoint, two.endpoint, literal.endpoint]);
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

  it("deletes by endpoint or by id, 204; a second time, or another user's, is 404 and leaves it in place", async () => {
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
      [
        'a compressed p256dh',
        { endpoint: good.endpoint, keys: { ...k, p256dh: b64(compressed.getPublicKey(null, 'compressed')) } },
        '/keys/p256dh',
      ],
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
    const prod = await startTestApp(
      {
        NODE_ENV: 'production',
        VAPID_PUBLIC_KEY: vapid.getPublicKey('base64url'),
        VAPID_PRIVATE_KEY: vapid.getPrivateKey('base64url'),
        VAPID_SUBJECT: 'mailto:ops@chat.example.com',
      },
      { resolve: dns.resolve },
    );
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

describe('endpoint destinations (API.md, "Privacy": no requests into the operator\'s network)', () => {
  const refused: Array<[string, string]> = [
    ['cloud metadata', 'https://169.254.169.254/latest/meta-data/iam'],
    ['loopback', 'https://127.0.0.1/x'],
    ['loopback on a port', 'https://127.0.0.1:6379/x'],
    ['IPv6 loopback', 'https://[::1]/x'],
    ['private', 'https://10.0.0.1/x'],
    ['private 172.16/12', 'https://172.16.5.4/x'],
    ['private 192.168/16', 'https://192.168.1.1/x'],
    ['shared address space', 'https://100.64.0.1/x'],
    ['unspecified', 'https://0.0.0.0/x'],
    ['IPv6 link-local', 'https://[fe80::1]/x'],
    ['IPv6 unique local', 'https://[fd00::1]/x'],
    ['IPv4-mapped loopback', 'https://[::ffff:127.0.0.1]/x'],
    ['IPv4-mapped metadata', 'https://[::ffff:a9fe:a9fe]/x'],
    ['NAT64 of metadata', 'https://[64:ff9b::a9fe:a9fe]/x'],
    ['hex IPv4', 'https://0x7f.0.0.1/x'],
    ['decimal IPv4', 'https://2130706433/x'],
    ['octal IPv4', 'https://0177.0.0.1/x'],
    ['short IPv4', 'https://127.1/x'],
    ['localhost (resolves to loopback)', 'https://localhost/x'],
    ['a name resolving to the metadata address', 'https://metadata.example.com/x'],
    ['a name resolving to a private address', 'https://intranet.example.com/x'],
    ['a name with one public and one loopback address', 'https://mixed.example.com/x'],
    ['a name resolving to IPv4-mapped loopback', 'https://mapped.example.com/x'],
    ['an unresolvable name', 'https://nowhere.example.com/x'],
    ['http to a public host', 'http://push.example.com/x'],
    ['http to localhost (no longer allowed in development)', 'http://localhost:8123/push/abc'],
    ['http to loopback', 'http://127.0.0.1:8123/push/abc'],
    ['a NUL in the path', 'https://push.example.com/a\u0000b'],
    ['a newline in the path', 'https://push.example.com/a\nb'],
    ['a tab in the host', 'https://push.exa\tmple.com/x'],
    ['a space', 'https://push.example.com/a b'],
  ];

  it('refuses endpoints that are, or resolve to, loopback, private, link-local or reserved addresses, with 400 on /endpoint, storing nothing', async () => {
    const mallory = await t.as('mallory');
    for (const [name, endpoint] of refused) {
      const res = await mallory.post('/push/subscriptions', subscription(endpoint));
      expect({ name, status: res.status, code: res.body?.code }).toEqual({ name, status: 400, code: 'VALIDATION_FAILED' });
      expectProblem(res, 400, 'VALIDATION_FAILED');
      expect({ name, errors: res.body.errors.map((e: { path: string }) => e.path) }).toEqual({ name, errors: ['/endpoint'] });
    }
    expect(await endpoints(mallory)).toEqual([]);
    // The addresses a host resolved to are not told back.
    const res = await mallory.post('/push/subscriptions', subscription('https://intranet.example.com/x'));
    expect(res.body.detail).toBe('must point at a public address, not a loopback, private or link-local one');
    expect(JSON.stringify(res.body)).not.toContain('10.20.30.40');
  });

  it('accepts an https endpoint whose host resolves to public addresses only', async () => {
    const oscar = await t.as('oscar');
    const asked = dns.asked.length;
    const ok = subscription();
    expect((await oscar.post('/push/subscriptions', ok)).status).toBe(201);
    expect(dns.asked.slice(asked)).toEqual(['push.example.com']);
    const v6 = subscription('https://[2606:4700:4700::1111]/push/abc');
    expect((await oscar.post('/push/subscriptions', v6)).status).toBe(201);
    expect(await endpoints(oscar)).toEqual([ok.endpoint, v6.endpoint]);
  });

  it('with PUSH_ALLOW_PRIVATE_ENDPOINTS=1, takes http and loopback, private and link-local endpoints (a push service inside the network)', async () => {
    const inside = await startTestApp({ PUSH_ALLOW_PRIVATE_ENDPOINTS: '1' }, { resolve: dns.resolve });
    try {
      const olga = await inside.as('olga');
      const ok = [
        'http://127.0.0.1:8123/push/abc',
        'http://localhost:8123/push/abc',
        'https://10.0.0.1/x',
        'https://intranet.example.com/x',
        'http://[::1]:8123/x',
      ];
      for (const endpoint of ok)
        expect({ endpoint, status: (await olga.post('/push/subscriptions', subscription(endpoint))).status }).toEqual({
          endpoint,
          status: 201,
        });
      // Still never: another scheme, credentials, a reserved address, a name that does not resolve.
      for (const endpoint of [
        'ftp://10.0.0.1/x',
        'http://user:pw@127.0.0.1/x',
        'http://0.0.0.0:8123/x',
        'http://224.0.0.251/x',
        'https://nowhere.example.com/x',
      ]) {
        const res = await olga.post('/push/subscriptions', subscription(endpoint));
        expect({ endpoint, status: res.status, code: res.body?.code }).toEqual({ endpoint, status: 400, code: 'VALIDATION_FAILED' });
      }
      expect(await endpoints(olga)).toEqual(ok);
    } finally {
      await inside.close();
    }
  });
});
