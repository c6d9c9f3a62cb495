import { describe, expect, it } from 'vitest';
import { DeferredCompiles } from '../src/http/deferred.js';

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
