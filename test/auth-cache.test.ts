import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTokenVerifier, mintToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';
import { TEST_JWT_SECRET } from './helpers/app.js';

const verifier = () => createTokenVerifier(loadConfig({ NODE_ENV: 'test', JWT_SECRET: TEST_JWT_SECRET, DATA_DIR: '/tmp/unused' }));

describe('verified tokens remembered between requests', () => {
  afterEach(() => vi.useRealTimers());

  it('refuses a remembered token once it has expired (past the 30 s leeway)', async () => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z'), toFake: ['Date'] });
    const v = verifier();
    const token = await mintToken(TEST_JWT_SECRET, 'ada', { expiresIn: '60s' });
    expect((await v.verify(token)).userId).toBe('ada');
    vi.setSystemTime(new Date('2026-01-01T00:01:20Z'));
    expect((await v.verify(token)).userId).toBe('ada'); // within the leeway
    vi.setSystemTime(new Date('2026-01-01T00:01:31Z'));
    await expect(v.verify(token)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('checks a token again after five minutes, and never remembers a refused one', async () => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z'), toFake: ['Date'] });
    const v = verifier();
    const token = await mintToken(TEST_JWT_SECRET, 'ada', { expiresIn: '1h' });
    const first = await v.verify(token);
    expect(await v.verify(token)).toBe(first);
    vi.setSystemTime(new Date('2026-01-01T00:05:01Z'));
    const again = await v.verify(token);
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
    const forged = `${token.slice(0, -2)}xx`;
    await expect(v.verify(forged)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(v.verify(forged)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });
});
