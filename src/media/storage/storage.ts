/**
 * Where stored files live. Keys are ours (`<roomId>/<mediaId>.<ext>`, thumbnails `<roomId>/<mediaId>-thumb.webp`), so
 * a driver can tell an object's type from its key; client file names never reach a key.
 */
export interface PutMeta {
  contentType: string;
  disposition: 'inline' | 'attachment';
  fileName: string;
  size: number;
}

export interface UrlOptions {
  /** Unix seconds the URL counts as issued at, and expires at. */
  issuedAt: number;
  expiresAt: number;
  disposition: 'inline' | 'attachment';
  fileName: string;
}

export interface MediaStorage {
  readonly driver: 'local' | 's3' | 'cloudinary';
  /** Stores the file at `path` under `key`; the driver may move the file instead of copying it. */
  put(key: string, path: string, meta: PutMeta): Promise<void>;
  /** Removes the object; removing a missing one is not an error. */
  delete(key: string): Promise<void>;
  /** A URL that lets whoever holds it read the object until `expiresAt`, and nothing else. */
  signedUrl(key: string, opts: UrlOptions): Promise<string>;
  /** Loads what the driver needs (its SDK) ahead of the first call, so the start pays for it rather than an upload. */
  prepare?(): Promise<void>;
}

export const STORAGE_KEY = /^[0-9a-f-]{36}\/[0-9a-f-]{36}(-thumb)?\.[a-z0-9]{2,5}$/;
