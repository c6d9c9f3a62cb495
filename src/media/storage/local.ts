import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config.js';
import { devSecret } from '../../config/dev-secrets.js';
import type { MediaStorage, PutMeta, UrlOptions } from './storage.js';
import { STORAGE_KEY } from './storage.js';

/**
 * Files under DATA_DIR/media, served by the service itself (see media.files.ts) at URLs signed with HMAC-SHA256 over
 * the key, the expiry and the download name. Anyone may fetch such a URL until it expires; nobody can make one.
 */
export class LocalStorage implements MediaStorage {
  readonly driver = 'local';

  constructor(
    readonly root: string,
    private readonly secret: Buffer,
    private readonly publicUrl: string,
  ) {}

  /** The file behind a key, or undefined for a key that is not one of ours. */
  file(key: string): string | undefined {
    return STORAGE_KEY.test(key) ? path.join(this.root, key) : undefined;
  }

  async put(key: string, source: string, _meta: PutMeta): Promise<void> {
    const dest = this.file(key);
    if (!dest) throw new Error(`not a storage key: ${key}`);
    await mkdir(path.dirname(dest), { recursive: true });
    try {
      await rename(source, dest);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      // Another file system: copy under a temporary name, so a reader never sees a half-copied file.
      const partial = `${dest}.partial`;
      await copyFile(source, partial);
      await rename(partial, dest);
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.file(key);
    if (file) await rm(file, { force: true });
  }

  async signedUrl(key: string, opts: UrlOptions): Promise<string> {
    const exp = String(opts.expiresAt);
    const query = new URLSearchParams({ exp, name: opts.fileName, sig: this.sign(key, exp, opts.fileName) });
    return `${this.publicUrl}/media/${key}?${query.toString()}`;
  }

  /** True when `sig` is ours for this key, expiry and name (expiry itself is checked by the caller). */
  verify(key: string, exp: string, name: string, sig: string): boolean {
    const expected = Buffer.from(this.sign(key, exp, name));
    const given = Buffer.from(sig);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private sign(key: string, exp: string, name: string): string {
    return createHmac('sha256', this.secret).update(`v1\n${key}\n${exp}\n${name}`).digest('base64url');
  }
}

/**
 * MEDIA_URL_SECRET when set; otherwise derived from JWT_SECRET (a separate key for a separate purpose, so neither
 * signature can stand in for the other); otherwise, in development, a secret generated into DATA_DIR.
 * config.ts refuses a production start with none of these.
 */
export function localSigningKey(config: Config): Buffer {
  if (config.media.urlSecret) return Buffer.from(config.media.urlSecret);
  if (config.jwt.secret) return Buffer.from(hkdfSync('sha256', config.jwt.secret, 'chat-media', 'media url signing', 32));
  return Buffer.from(devSecret(config.dataDir, 'media-url-secret'));
}
