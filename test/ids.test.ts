import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, newId } from '../src/ids.js';

const raw = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('the cursor codec', () => {
  it('reads back what it wrote', () => {
    const id = newId();
    const cursor = encodeCursor({ t: 1_700_000_000_000, id });
    expect(decodeCursor<{ t: number; id: string }>(cursor, { t: 'time', id: 'id' })).toEqual({ t: 1_700_000_000_000, id });
    expect(decodeCursor<{ t: number; id: string }>(cursor, { t: 'number', id: 'string' })).toEqual({ t: 1_700_000_000_000, id });
  });

  it('refuses what it did not write: not base64url JSON, not an object, a field missing or of the wrong type', () => {
    for (const cursor of ['', 'not a cursor', raw(null), raw(5), raw('x'), raw({}), raw({ id: 5 })]) {
      expect(decodeCursor<{ id: string }>(cursor, { id: 'string' })).toBeNull();
    }
  });

  it('refuses an id that is not an id and a time a Date cannot hold, so neither reaches SQL', () => {
    const id = newId();
    expect(decodeCursor<{ id: string }>(raw({ id: "x' or 1=1" }), { id: 'id' })).toBeNull();
    expect(decodeCursor<{ id: string }>(raw({ id: "x' or 1=1" }), { id: 'string' })).toEqual({ id: "x' or 1=1" });
    for (const t of [1.5, 9e15, -9e15, 2 ** 60, '1700000000000']) {
      expect(decodeCursor<{ t: number; id: string }>(raw({ t, id }), { t: 'time', id: 'id' })).toBeNull();
    }
    expect(decodeCursor<{ t: number; id: string }>(raw({ t: 0, id }), { t: 'time', id: 'id' })).toEqual({ t: 0, id });
  });
});
