import { afterEach, describe, expect, inject, it } from 'vitest';
import { adapterClient, createRedis } from '../src/redis.js';

const url = process.env['TEST_REDIS_URL'];
const withRedis = inject('template').kind === 'postgres' && !!url;

describe.runIf(withRedis)('the Socket.IO adapter client', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  const opened: Array<{ disconnect(): void }> = [];
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled);
    for (const c of opened) c.disconnect();
  });

  async function client() {
    const base = createRedis({ url: url! }, () => {});
    const forAdapter = adapterClient(base, () => {});
    opened.push(base, forAdapter);
    await forAdapter.connect();
    return forAdapter;
  }

  it('leaves no rejection unhandled when a duplicate closes with commands nobody awaits', async () => {
    process.on('unhandledRejection', onUnhandled);
    const forAdapter = await client();
    // The adapter's own duplicates (stream reader, subscriber) are made the same way; ioredis re-sends their
    // SUBSCRIBE on reconnect without anyone awaiting it.
    const dup = forAdapter.duplicate();
    opened.push(dup);
    await dup.connect();
    void dup.blpop('chat-test-never-pushed', 5);
    void forAdapter.blpop('chat-test-never-pushed', 5);
    dup.disconnect();
    forAdapter.disconnect();
    await new Promise((r) => setTimeout(r, 50));
    expect(unhandled).toEqual([]);
  });

  it('still rejects a command its caller awaits', async () => {
    const forAdapter = await client();
    const dup = forAdapter.duplicate();
    opened.push(dup);
    await dup.connect();
    const pending = dup.blpop('chat-test-never-pushed', 5);
    dup.disconnect();
    await expect(pending).rejects.toThrow(/Connection is closed/);
  });
});

describe.runIf(!withRedis)('the Socket.IO adapter client', () => {
  it('is checked against Redis (TEST_REDIS_URL on the PostgreSQL run); skipped on this run', () => {
    expect(withRedis).toBe(false);
  });
});
