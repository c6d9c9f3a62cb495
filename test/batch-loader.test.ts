import { describe, expect, it, vi } from 'vitest';
import { BatchLoader, SharedRead } from '../src/batch-loader.js';

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

describe('SharedRead', () => {
  const tick = () => new Promise((r) => setImmediate(r));

  it('answers the asks for a key of one tick with one read, the asks during it with the next, other keys at once', async () => {
    const reads: string[] = [];
    const gates = new Map<string, () => void>();
    let version = 0;
    const shared = new SharedRead<string, string>();
    const read = (key: string) => async () => {
      const n = ++version;
      reads.push(`${key}#${n}`);
      await new Promise<void>((resolve) => gates.set(`${key}#${n}`, resolve));
      return `${key}@${n}`;
    };
    const first = [shared.get('a', read('a')), shared.get('a', read('a'))];
    await tick();
    expect(reads).toEqual(['a#1']);
    // Asked while a#1 is under way: not answered by it (it may have begun before what the asker wrote).
    const second = [shared.get('a', read('a')), shared.get('a', read('a'))];
    // Another key does not wait for a's read.
    const other = shared.get('b', read('b'));
    await tick();
    expect(reads).toEqual(['a#1', 'b#2']);
    gates.get('b#2')!();
    expect(await other).toBe('b@2');
    gates.get('a#1')!();
    expect(await Promise.all(first)).toEqual(['a@1', 'a@1']);
    await vi.waitFor(() => expect(reads).toEqual(['a#1', 'b#2', 'a#3']));
    gates.get('a#3')!();
    expect(await Promise.all(second)).toEqual(['a@3', 'a@3']);
    await tick();
    expect(shared.size).toBe(0);
  });

  it('hands a failed read to its asks only; the next ask reads again', async () => {
    let fail = true;
    const shared = new SharedRead<string, string>();
    const read = (key: string) => async () => {
      if (fail) throw new Error('database away');
      return key;
    };
    const failed = await Promise.allSettled([shared.get('k', read('k')), shared.get('k', read('k'))]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await shared.get('k', read('k'))).toBe('k');
    await tick();
    expect(shared.size).toBe(0);
  });
});
