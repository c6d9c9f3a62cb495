import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { SHARED_SCHEMAS } from '../src/contract/components.js';
import { DeferredCompiles } from '../src/http/deferred.js';
import { createHttpServer } from '../src/http/server.js';
import { createValidatorCompiler } from '../src/http/validation.js';

const turn = () => new Promise((r) => setImmediate(r));

describe('DeferredCompiles', () => {
  it('builds each on first use, once, and the rest in the background one per turn', async () => {
    const d = new DeferredCompiles();
    const built: string[] = [];
    const getters = ['a', 'b', 'c'].map((name) => d.lazy(() => (built.push(name), name.toUpperCase())));
    expect(built).toEqual([]);
    expect(getters[1]!()).toBe('B');
    expect(getters[1]!()).toBe('B');
    expect(built).toEqual(['b']);
    expect(d.size).toBe(2);

    const errors: unknown[] = [];
    d.warm({ error: (obj: unknown) => errors.push(obj) });
    // Nothing is built in the same turn: what the loop has queued goes first.
    expect(built).toEqual(['b']);
    await turn();
    expect(built).toHaveLength(2);
    await turn();
    await turn();
    expect(built.sort()).toEqual(['a', 'b', 'c']);
    expect(d.size).toBe(0);
    expect(getters.map((g) => g())).toEqual(['A', 'B', 'C']);
    expect(built).toHaveLength(3);
    expect(errors).toEqual([]);
  });

  it('logs a build that fails in the background and leaves it to its first use; stops when told', async () => {
    const d = new DeferredCompiles();
    let calls = 0;
    const bad = d.lazy(() => {
      calls++;
      throw new Error('bad schema');
    });
    const errors: unknown[] = [];
    d.warm({ error: (obj: unknown) => errors.push(obj) });
    await turn();
    await turn();
    expect(errors).toHaveLength(1);
    expect(() => bad()).toThrow('bad schema');
    expect(calls).toBe(2);

    const later = new DeferredCompiles();
    const got = later.lazy(() => 'x');
    later.stop();
    later.warm({ error: () => {} });
    await turn();
    await turn();
    expect(later.size).toBe(1);
    expect(got()).toBe('x');
  });
});

describe('the HTTP server’s deferred compiles', () => {
  it('wait until the server listens: the turns between ready and listen belong to the start', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-deferred-'));
    const validators = createValidatorCompiler(SHARED_SCHEMAS);
    const app = await createHttpServer(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' }), validators);
    try {
      app.post(
        '/echo',
        { schema: { body: Type.Object({ a: Type.String() }), response: { 200: Type.Object({ a: Type.String() }) } } },
        async (req) => req.body,
      );
      await app.ready();
      const before = validators.deferred.size;
      expect(before).toBeGreaterThan(0);
      for (let i = 0; i < 20; i++) await turn();
      expect(validators.deferred.size).toBe(before);

      await app.listen({ port: 0, host: '127.0.0.1' });
      for (let i = 0; i < before + 20 && validators.deferred.size > 0; i++) await turn();
      expect(validators.deferred.size).toBe(0);
    } finally {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
