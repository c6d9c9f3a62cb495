import { createECDH } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

let dataDir: string;
const SECRET = 'a-jwt-secret-of-at-least-thirty-two-bytes';
const keyPair = () => {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { VAPID_PUBLIC_KEY: ecdh.getPublicKey('base64url'), VAPID_PRIVATE_KEY: ecdh.getPrivateKey('base64url') };
};
const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig({ JWT_SECRET: SECRET, DATA_DIR: dataDir, ...env });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
};

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'chat-notify-config-'));
});
afterAll(async () => rm(dataDir, { recursive: true, force: true }));

describe('notification settings', () => {
  it('has defaults for delivery, and generates VAPID keys into DATA_DIR in development, the same on every start', async () => {
    const config = loadConfig({ JWT_SECRET: SECRET, DATA_DIR: dataDir });
    expect(config.notify).toMatchObject({ webhookUrl: undefined, coalesceMs: 2000, timeoutMs: 10_000, maxAttempts: 8, retryBaseMs: 1000 });
    const vapid = config.notify.vapid!;
    expect(vapid).toMatchObject({ generated: true, subject: expect.stringMatching(/^mailto:/) });
    expect(Buffer.from(vapid.publicKey, 'base64url')).toHaveLength(65);
    expect(Buffer.from(vapid.privateKey, 'base64url')).toHaveLength(32);
    // The pair belongs together.
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(vapid.privateKey, 'base64url'));
    expect(ecdh.getPublicKey('base64url')).toBe(vapid.publicKey);
    expect(JSON.parse(await readFile(path.join(dataDir, 'vapid-keys.json'), 'utf8'))).toEqual({
      publicKey: vapid.publicKey,
      privateKey: vapid.privateKey,
    });
    expect(loadConfig({ JWT_SECRET: SECRET, DATA_DIR: dataDir }).notify.vapid).toEqual(vapid);
  });

  it('takes configured keys and subject as given', () => {
    const keys = keyPair();
    const config = loadConfig({
      JWT_SECRET: SECRET,
      DATA_DIR: dataDir,
      NODE_ENV: 'production',
      ...keys,
      VAPID_SUBJECT: 'https://chat.example.com/contact',
    });
    expect(config.notify.vapid).toEqual({
      publicKey: keys.VAPID_PUBLIC_KEY,
      privateKey: keys.VAPID_PRIVATE_KEY,
      subject: 'https://chat.example.com/contact',
      generated: false,
    });
  });

  it('turns Web Push off in production without keys, and wants all three once keys are given', () => {
    expect(loadConfig({ JWT_SECRET: SECRET, DATA_DIR: dataDir, NODE_ENV: 'production' }).notify.vapid).toBeUndefined();
    expect(problems({ NODE_ENV: 'production', ...keyPair() })).toEqual([expect.stringContaining('VAPID_SUBJECT')]);
    expect(problems({ NODE_ENV: 'production', VAPID_SUBJECT: 'mailto:ops@example.com' })).toEqual([
      expect.stringContaining('VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY'),
    ]);
    expect(problems({ VAPID_PUBLIC_KEY: keyPair().VAPID_PUBLIC_KEY })).toEqual(['VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY go together']);
  });

  it('refuses keys that are not a P-256 pair, and subjects that are neither mailto: nor https:', () => {
    const a = keyPair();
    const b = keyPair();
    expect(problems({ VAPID_PUBLIC_KEY: a.VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY: b.VAPID_PRIVATE_KEY })).toEqual([
      'VAPID_PUBLIC_KEY is not the public key of VAPID_PRIVATE_KEY',
    ]);
    expect(problems({ ...a, VAPID_PUBLIC_KEY: a.VAPID_PUBLIC_KEY.slice(0, 40) })).toEqual([
      expect.stringContaining('VAPID_PUBLIC_KEY must be'),
    ]);
    expect(problems({ ...a, VAPID_PRIVATE_KEY: `${a.VAPID_PRIVATE_KEY}AAAA` })).toEqual([
      expect.stringContaining('VAPID_PRIVATE_KEY must be'),
    ]);
    expect(problems({ ...a, VAPID_PRIVATE_KEY: 'AAAA' })).toEqual([expect.stringContaining('VAPID_PRIVATE_KEY')]);
    expect(problems({ ...a, VAPID_SUBJECT: 'http://chat.example.com' })).toEqual([
      'VAPID_SUBJECT must be a mailto: address or an https: URL',
    ]);
    expect(problems({ ...a, VAPID_SUBJECT: 'ops@example.com' })).toEqual(['VAPID_SUBJECT must be a mailto: address or an https: URL']);
  });

  it("takes a private key whose leading zero byte was dropped (as Node's ECDH.getPrivateKey() does), as 32 bytes", () => {
    const scalar = Buffer.concat([Buffer.from([0]), Buffer.alloc(31, 0x5a)]);
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(scalar);
    const config = loadConfig({
      JWT_SECRET: SECRET,
      DATA_DIR: dataDir,
      NODE_ENV: 'production',
      VAPID_PUBLIC_KEY: ecdh.getPublicKey('base64url'),
      VAPID_PRIVATE_KEY: scalar.subarray(1).toString('base64url'),
      VAPID_SUBJECT: 'mailto:ops@chat.example.com',
    });
    expect(config.notify.vapid).toMatchObject({ privateKey: scalar.toString('base64url'), publicKey: ecdh.getPublicKey('base64url') });
  });

  it('checks the delivery settings', () => {
    expect(problems({ NOTIFY_TIMEOUT_MS: '5' })).toEqual([expect.stringContaining('NOTIFY_TIMEOUT_MS')]);
    expect(problems({ NOTIFY_MAX_ATTEMPTS: '0' })).toEqual([expect.stringContaining('NOTIFY_MAX_ATTEMPTS')]);
    expect(problems({ NOTIFY_RETRY_BASE_MS: 'soon' })).toEqual([expect.stringContaining('NOTIFY_RETRY_BASE_MS')]);
    expect(
      loadConfig({ JWT_SECRET: SECRET, DATA_DIR: dataDir, NOTIFY_TIMEOUT_MS: '2500', NOTIFY_MAX_ATTEMPTS: '3', NOTIFY_RETRY_BASE_MS: '50' })
        .notify,
    ).toMatchObject({ timeoutMs: 2500, maxAttempts: 3, retryBaseMs: 50 });
  });
});
