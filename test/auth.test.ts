import { execFile } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeJwt, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { mintToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';
import { request, startTestApp, TEST_JWT_SECRET, type Res, type TestApp } from './helpers/app.js';

const run = promisify(execFile);
const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const secretKey = (s: string) => new TextEncoder().encode(s);

/** Signs arbitrary claims; jose's SignJWT refuses nothing, so every bad token can be made. */
function sign(claims: JWTPayload, key: Uint8Array | KeyObject, alg = 'HS256'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
}

interface Served {
  baseUrl: string;
}

const call = (app: Served, token?: string, authorization = token === undefined ? undefined : `Bearer ${token}`) =>
  request(app.baseUrl, '/rooms', authorization === undefined ? {} : { headers: { authorization } });

/**
 * The app built as startTestApp builds it, with other settings, on the file's database: a fresh database per
 * configuration would only cost time, since these tests are about tokens.
 */
async function withApp(
  env: Record<string, string>,
  fn: (app: Served & { config: ReturnType<typeof loadConfig> }) => Promise<void>,
): Promise<void> {
  const config = loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, DATA_DIR: t.config.dataDir, LOG_LEVEL: 'silent', ...env });
  const app = await buildApp(config, { database: t.app.database });
  try {
    await app.http.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.http.server.address();
    await fn({ config, baseUrl: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` });
  } finally {
    // Not app.close(): that would close the database this file shares.
    await app.http.close();
  }
}

function expectUnauthorized(res: Res): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status: 401, code: 'UNAUTHORIZED' });
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  expect(res.body).toMatchObject({ status: 401, title: 'Unauthorized', type: expect.any(String), detail: expect.any(String) });
}

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

describe('HS256 tokens (JWT_SECRET)', () => {
  it('accepts a valid token', async () => {
    const res = await call(t, await t.token('alice'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: [], nextCursor: null });
  });

  it('refuses every malformed, forged or expired token with 401 problem+json', async () => {
    const valid = await t.token('alice');
    const [h, , s] = valid.split('.');
    const key = secretKey(TEST_JWT_SECRET);
    const exp = now() + 3600;
    const refused: Array<[string, string | undefined, string?]> = [
      ['no header', undefined],
      ['empty bearer', undefined, 'Bearer '],
      ['another scheme', undefined, `Basic ${Buffer.from('alice:pw').toString('base64')}`],
      ['token without scheme', undefined, valid],
      ['garbage', 'garbage'],
      ['three garbage parts', 'a.b.c'],
      ['another secret', await mintToken('another-secret-another-secret-0123456789', 'alice')],
      ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', exp })}.`],
      ['alg none, signature kept', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', exp })}.${s}`],
      ['payload swapped', `${h}.${b64({ sub: 'admin', exp, role: 'admin' })}.${s}`],
      ['HS384', await sign({ sub: 'alice', exp }, key, 'HS384')],
      ['expired beyond the leeway', await sign({ sub: 'alice', exp: now() - 60 }, key)],
      ['not yet valid beyond the leeway', await sign({ sub: 'alice', exp, nbf: now() + 120 }, key)],
      ['missing sub', await sign({ exp, name: 'Nobody' }, key)],
      ['empty sub', await sign({ sub: '', exp }, key)],
      ['sub of 129 characters', await sign({ sub: 'x'.repeat(129), exp }, key)],
      ['sub of 129 code points', await sign({ sub: '😀'.repeat(129), exp }, key)],
      ['sub with a control character', await sign({ sub: 'alice\nadmin', exp }, key)],
      ['sub with a lone surrogate', await sign({ sub: 'alice\ud800', exp }, key)],
      ['sub not a string', await sign({ sub: 42 as unknown as string, exp }, key)],
      ['invalid role', await sign({ sub: 'alice', exp, role: 'root' }, key)],
      ['role not a string', await sign({ sub: 'alice', exp, role: ['admin'] }, key)],
      ['businessIds not an array', await sign({ sub: 'alice', exp, businessIds: 'b1' }, key)],
      ['name not a string', await sign({ sub: 'alice', exp, name: 5 }, key)],
    ];
    for (const [label, token, header] of refused) {
      const res = await call(t, token, header);
      expect.soft(res.status, label).toBe(401);
      expectUnauthorized(res);
    }
  });

  it('allows clock skew up to 30 s and a sub of up to 128 code points', async () => {
    const key = secretKey(TEST_JWT_SECRET);
    expect((await call(t, await sign({ sub: 'alice', exp: now() - 10 }, key))).status).toBe(200);
    expect((await call(t, await sign({ sub: 'alice', exp: now() + 60, nbf: now() + 10 }, key))).status).toBe(200);
    expect((await call(t, await sign({ sub: 'y'.repeat(128), exp: now() + 60 }, key))).status).toBe(200);
    expect((await call(t, await sign({ sub: '😀'.repeat(128), exp: now() + 60 }, key))).status).toBe(200);
    // Outside production a token without exp is a development convenience.
    expect((await call(t, await sign({ sub: 'alice' }, key))).status).toBe(200);
  });

  it('keeps the name from the latest token; a user never seen has none', async () => {
    const alice = await t.as('alice', { name: 'Alice' });
    const room = (await alice.post('/rooms', { type: 'group', name: 'names', participantIds: ['never-seen'] })).body;
    const names = (v: any) => Object.fromEntries(v.participants.map((p: any) => [p.userId, p.name]));
    expect(names(room)).toEqual({ alice: 'Alice', 'never-seen': null });
    const renamed = await t.as('alice', { name: 'Ada' });
    expect(names((await renamed.get(`/rooms/${room.id}`)).body)).toEqual({ alice: 'Ada', 'never-seen': null });
    const seen = await t.as('never-seen', { name: 'Now Seen' });
    expect(names((await seen.get(`/rooms/${room.id}`)).body)).toEqual({ alice: 'Ada', 'never-seen': 'Now Seen' });
  });
});

describe('configured issuer, audience and production', () => {
  it('refuses a wrong or missing issuer or audience', async () => {
    await withApp({ JWT_ISSUER: 'https://id.example', JWT_AUDIENCE: 'chat' }, async (app) => {
      const right = { issuer: 'https://id.example', audience: 'chat' };
      expect((await call(app, await t.token('alice', right))).status).toBe(200);
      for (const opts of [
        {},
        { ...right, issuer: 'https://evil.example' },
        { ...right, audience: 'other' },
        { issuer: right.issuer },
        { audience: 'chat' },
      ]) {
        expectUnauthorized(await call(app, await t.token('alice', opts)));
      }
    });
  });

  it('requires exp when NODE_ENV=production', async () => {
    await withApp({ NODE_ENV: 'production' }, async (app) => {
      const key = secretKey(TEST_JWT_SECRET);
      expectUnauthorized(await call(app, await sign({ sub: 'alice' }, key)));
      expect((await call(app, await sign({ sub: 'alice', exp: now() + 60 }, key))).status).toBe(200);
    });
  });
});

describe('public keys (JWT_PUBLIC_KEY)', () => {
  const cases = [
    { label: 'RS256', alg: 'RS256', pair: () => generateKeyPairSync('rsa', { modulusLength: 2048 }) },
    { label: 'ES256', alg: 'ES256', pair: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }) },
    { label: 'EdDSA', alg: 'EdDSA', pair: () => generateKeyPairSync('ed25519') },
  ];
  for (const { label, alg, pair } of cases) {
    it(`${label}: accepts its own signature, refuses HS256 and other keys`, async () => {
      const { publicKey, privateKey } = pair();
      const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      // Env files often carry a PEM on one line with literal \n.
      await withApp({ JWT_PUBLIC_KEY: label === 'ES256' ? pem.replace(/\n/g, '\\n') : pem }, async (app) => {
        const exp = now() + 600;
        const ok = await call(app, await sign({ sub: 'alice', exp, name: 'Alice' }, privateKey, alg));
        expect(ok.status).toBe(200);
        expectUnauthorized(await call(app, await t.token('alice')));
        // Algorithm confusion: an HMAC keyed with the public key itself.
        expectUnauthorized(await call(app, await sign({ sub: 'alice', exp }, secretKey(pem))));
        expectUnauthorized(await call(app, await sign({ sub: 'alice', exp }, pair().privateKey, alg)));
        expectUnauthorized(await call(app, await sign({ sub: 'alice', exp: now() - 60 }, privateKey, alg)));
      });
    });
  }
});

describe('token CLI', () => {
  const tsx = path.resolve('node_modules/.bin/tsx');
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'chat-cli-'));
  });
  afterAll(async () => rm(dataDir, { recursive: true, force: true }));

  const cli = (args: string[], env: Record<string, string | undefined>) => {
    const { JWT_SECRET: _s, JWT_PUBLIC_KEY: _k, JWKS_URL: _j, JWT_ISSUER: _i, JWT_AUDIENCE: _a, ...base } = process.env;
    return run(tsx, ['src/auth/token-cli.ts', ...args], { env: { ...base, DATA_DIR: dataDir, ...env }, timeout: 60_000 });
  };

  it('prints only a JWT with the requested claims, which the app accepts', async () => {
    const { stdout } = await cli(['alice', '--name', 'Ada', '--role', 'support', '--business', 'b1,b2'], { JWT_SECRET: TEST_JWT_SECRET });
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = stdout.trim();
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ sub: 'alice', name: 'Ada', role: 'support', businessIds: ['b1', 'b2'] });
    expect(claims.exp).toBeGreaterThan(now());
    const res = await call(t, token);
    expect(res.status).toBe(200);
    const room = await request(t.baseUrl, '/rooms', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'group', name: 'cli' }),
    });
    expect(room.body.participants).toEqual([expect.objectContaining({ userId: 'alice', name: 'Ada' })]);
  }, 60_000);

  it('without JWT_SECRET signs with the secret generated into DATA_DIR, the one the app uses too', async () => {
    const { stdout } = await cli(['bob'], {});
    await withApp({ DATA_DIR: dataDir, JWT_SECRET: '' }, async (app) => {
      expect(app.config.jwt.generated).toBe(true);
      expect((await call(app, stdout.trim())).status).toBe(200);
    });
    expectUnauthorized(await call(t, stdout.trim()));
  }, 60_000);

  it('exits non-zero on an invalid role, a missing or invalid user id, printing no token', async () => {
    for (const args of [['alice', '--role', 'root'], [], ['x'.repeat(129)]]) {
      const err = await cli(args, { JWT_SECRET: TEST_JWT_SECRET }).then(
        () => undefined,
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      expect(err?.code, args.join(' ')).not.toBe(0);
      expect(err?.code).toBeDefined();
      expect(err!.stdout).toBe('');
      expect(err!.stderr).toMatch(/usage/);
    }
  }, 60_000);
});
