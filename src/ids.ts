import { uuidv7 } from 'uuidv7';

export const newId = (): string => uuidv7();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are opaque to clients: one of the wrong shape is simply not found, so callers check this before any query. */
export const isId = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

/**
 * What a cursor field must hold. Beyond the JSON types: `id` is an id (isId) and `time` a millisecond timestamp a Date
 * can hold, so a forged cursor is refused here and never reaches SQL (where a bad uuid or time would fail as a 500).
 */
type CursorField = 'string' | 'number' | 'id' | 'time';

const validField: Record<CursorField, (v: unknown) => boolean> = {
  string: (v) => typeof v === 'string',
  number: (v) => typeof v === 'number',
  id: isId,
  time: (v) => Number.isSafeInteger(v) && !Number.isNaN(new Date(v as number).getTime()),
};

/** Opaque keyset cursors: base64url JSON, validated on the way back in. The one codec for every paged list. */
export function encodeCursor(value: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** null when the cursor is not one this server wrote: not base64url JSON, or a field missing or of the wrong kind. */
export function decodeCursor<T extends Record<string, string | number>>(
  cursor: string,
  fields: { [K in keyof T]: T[K] extends number ? 'number' | 'time' : 'string' | 'id' },
): T | null {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return null;
    const record = parsed as Record<string, unknown>;
    for (const [name, kind] of Object.entries<CursorField>(fields)) if (!validField[kind](record[name])) return null;
    return record as T;
  } catch {
    return null;
  }
}
