import { createHmac } from 'node:crypto';
import { jwtVerify } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHs256Check, type ClaimRules } from '../src/auth/hs256.js';
import { createTokenVerifier, mintToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';

/*
 * The HS256 fast path must accept only tokens jose accepts, with the same claims: every case below is put to both, and
 * each must give the outcome written beside it (so the fast path cannot pass by accepting nothing either). What it
 * does not accept goes on to jose, so a token it defers on is still accepted.
 */
const SECRET = 'a-test-secret-of-enough-length-0123456789';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function sign(header: unknown, payload: unknown, opts: { secret?: string; hash?: string; raw?: boolean } = {}): string {
  const h = b64(header);
  const p = opts.raw ? (payload as string) : b64(payload);
  const s = createHmac(opts.hash ?? 'sha256', opts.secret ?? SECRET)
    .update(`${h}.${p}`)
    .digest('base64url');
  return `${h}.${p}.${s}`;
}

const HS = { alg: 'HS256', typ: 'JWT' };
const base = () => ({ sub: 'alice', iat: now(), exp: now() + 3600 });
const TOLERANCE = 30;

/** `defers`: jose accepts it, but the fast path leaves it to jose (an unusual form it does not parse). */
type Case = [name: string, token: () => string, outcome: 'accept' | 'reject' | 'defers', rules?: Partial<ClaimRules>];
const cases: Case[] = [
  ['a plain valid token', () => sign(HS, base()), 'accept'],
  ['a header without typ, with kid', () => sign({ alg: 'HS256', kid: 'k1' }, base()), 'accept'],
  ['no exp at all (outside production)', () => sign(HS, { sub: 'alice' }), 'accept'],
  ['expired within the clock tolerance', () => sign(HS, { ...base(), exp: now() - 10 }), 'accept'],
  ['expired beyond the tolerance', () => sign(HS, { ...base(), exp: now() - 60 }), 'reject'],
  ['exp exactly at the tolerance edge', () => sign(HS, { ...base(), exp: now() - TOLERANCE }), 'reject'],
  ['nbf ahead within the tolerance', () => sign(HS, { ...base(), nbf: now() + 10 }), 'accept'],
  ['nbf ahead beyond the tolerance', () => sign(HS, { ...base(), nbf: now() + 120 }), 'reject'],
  ['exp as a string', () => sign(HS, { ...base(), exp: String(now() + 3600) }), 'reject'],
  ['iat as a string', () => sign(HS, { ...base(), iat: 'yesterday' }), 'reject'],
  ['nbf as null', () => sign(HS, { ...base(), nbf: null }), 'reject'],
  ['another secret', () => sign(HS, base(), { secret: 'another-secret-of-enough-length-987654321' }), 'reject'],
  ['HS512 with the secret', () => sign({ alg: 'HS512' }, base(), { hash: 'sha512' }), 'reject'],
  ['alg none, no signature', () => `${b64({ alg: 'none' })}.${b64(base())}.`, 'reject'],
  ['alg none with the HS256 signature', () => sign({ alg: 'none' }, base()), 'reject'],
  ['a crit header', () => sign({ ...HS, crit: ['exp'] }, base()), 'reject'],
  ['b64 false', () => sign({ ...HS, b64: false, crit: ['b64'] }, base()), 'reject'],
  [
    'a payload changed after signing',
    () => {
      const [h, , s] = sign(HS, base()).split('.');
      return `${h}.${b64({ ...base(), sub: 'mallory' })}.${s}`;
    },
    'reject',
  ],
  ['a payload that is an array', () => sign(HS, [base()]), 'reject'],
  ['a payload that is not JSON', () => sign(HS, b64('not json'), { raw: true }), 'reject'],
  ['a payload that is not UTF-8', () => sign(HS, Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url'), { raw: true }), 'reject'],
  ['a header that is not JSON', () => `${b64('{alg')}.${b64(base())}.${'A'.repeat(43)}`, 'reject'],
  ['padding in the signature', () => `${sign(HS, base())}=`, 'defers'],
  ['a stray character in the signature', () => `${sign(HS, base()).slice(0, -2)}!${sign(HS, base()).slice(-2)}`, 'reject'],
  ['four segments', () => `${sign(HS, base())}.${b64('x')}`, 'reject'],
  ['the signature cut short', () => sign(HS, base()).slice(0, -4), 'reject'],
  ['issuer required and right', () => sign(HS, { ...base(), iss: 'https://idp' }), 'accept', { issuer: 'https://idp' }],
  ['issuer required and wrong', () => sign(HS, { ...base(), iss: 'https://evil' }), 'reject', { issuer: 'https://idp' }],
  ['issuer required and missing', () => sign(HS, base()), 'reject', { issuer: 'https://idp' }],
  ['audience as a string', () => sign(HS, { ...base(), aud: 'chat' }), 'accept', { audience: 'chat' }],
  ['audience in an array', () => sign(HS, { ...base(), aud: ['web', 'chat'] }), 'accept', { audience: 'chat' }],
  ['audience not in the array', () => sign(HS, { ...base(), aud: ['web'] }), 'reject', { audience: 'chat' }],
  ['audience missing', () => sign(HS, base()), 'reject', { audience: 'chat' }],
  ['exp required (production) and present', () => sign(HS, base()), 'accept', { requiredClaims: ['exp'] }],
  ['exp required (production) and missing', () => sign(HS, { sub: 'alice' }), 'reject', { requiredClaims: ['exp'] }],
];

describe('HS256 fast path against jose', () => {
  it.each(cases)('%s', async (_name, make, outcome, extra) => {
    const rules: ClaimRules = { clockTolerance: TOLERANCE, ...extra };
    const token = make();
    const fast = createHs256Check(SECRET, rules)(token);
    const jose = await jwtVerify(token, new TextEncoder().encode(SECRET), { algorithms: ['HS256'], ...rules }).then(
      (r) => r.payload as Record<string, unknown>,
      () => undefined,
    );
    expect(jose === undefined ? 'reject' : 'accept').toBe(outcome === 'defers' ? 'accept' : outcome);
    expect(fast === undefined ? 'reject' : 'accept').toBe(outcome === 'accept' ? 'accept' : 'reject');
    if (fast) expect(fast).toEqual(jose);
  });
});

describe('the verifier with a shared secret', () => {
  afterEach(() => vi.restoreAllMocks());
  const verifier = () => createTokenVerifier(loadConfig({ NODE_ENV: 'test', JWT_SECRET: SECRET, DATA_DIR: '/tmp/unused' }));

  it('checks a valid token without WebCrypto, and leaves an unusual one to jose', async () => {
    const webcrypto = vi.spyOn(globalThis.crypto.subtle, 'verify');
    const v = verifier();
    const token = await mintToken(SECRET, 'ada', { name: 'Ada' });
    expect(await v.verify(token)).toMatchObject({ userId: 'ada', name: 'Ada' });
    expect(webcrypto).not.toHaveBeenCalled();
    expect((await v.verify(`${await mintToken(SECRET, 'bob')}=`)).userId).toBe('bob');
    expect(webcrypto).toHaveBeenCalledTimes(1);
    await expect(v.verify(sign(HS, { ...base(), exp: now() - 60 }))).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });
});
