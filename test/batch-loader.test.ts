import { describe, expect, it } from 'vitest';
import { BatchLoader } from '../src/batch-loader.js';

describe('BatchLoader', () => {
  it('answers the lookups of one tick with one query, and those of the next tick with another', async () => {
    const queries: string[][] = [];
    const loader = new BatchLoader(async (keys: string[]) => {
      queries.push([...keys].sort());
      return new Map(keys.filter((k) => k !== 'none').map((k) => [k, k.toUpperCase()]));
    });
    const [a, b, many] = await Promise.all([loader.one('a'), loader.one('b'), loader.get(['a', 'c', 'none'])]);
    expect([a, b, many.get('c'), many.has('none')]).toEqual(['A', 'B', 'C', false]);
    expect(queries).toEqual([['a', 'b', 'c', 'none']]);
    expect(await loader.one('d')).toBe('D');
    expect(queries).toEqual([['a', 'b', 'c', 'none'], ['d']]);
  });

  it('sends the asks that come while a query is in flight together in the next one', async () => {
    const queries: string[][] = [];
    let release!: () => void;
    const loader = new BatchLoader(async (keys: string[]) => {
      queries.push([...keys].sort());
      if (keys.includes('slow')) await new Promise<void>((resolve) => (release = resolve));
      return new Map(keys.map((k) => [k, k]));
    });
    const slow = loader.one('slow');
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const later = [loader.one('x'), loader.one('y')];
    await new Promise((r) => setTimeout(r, 20));
    const yz = loader.one('z');
    expect(queries).toEqual([['slow']]);
    release();
    expect(await Promise.all([slow, ...later, yz])).toEqual(['slow', 'x', 'y', 'z']);
    expect(queries).toEqual([['slow'], ['x', 'y', 'z']]);
  });

  it('hands a failed query to every lookup of its tick, and queries again after', async () => {
    let fail = true;
    const loader = new BatchLoader(async (keys: string[]) => {
      if (fail) throw new Error('database away');
      return new Map(keys.map((k) => [k, 1]));
    });
    const results = await Promise.allSettled([loader.one('a'), loader.one('b')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await loader.one('a')).toBe(1);
  });
});
