import { uuidv7 } from 'uuidv7';

export const newId = (): string => uuidv7();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are opaque to clients: one of the wrong shape is simply not found, so callers check this before any query. */
export const isId = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

/** Opaque keyset cursors: base64url JSON, validated on the way back in. */
export function encodeCursor(value: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<T extends Record<string, string | number>>(
  cursor: string,
  keys: { [K in keyof T]: 'string' | 'number' },
): T | null {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
    for (const [k, type] of Object.entries(keys)) if (typeof parsed[k] !== type) return null;
    return parsed as T;
  } catch {
    return null;
  }
}
