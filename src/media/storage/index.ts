import path from 'node:path';
import type { Config } from '../../config.js';
import { CloudinaryStorage } from './cloudinary.js';
import { LocalStorage, localSigningKey } from './local.js';
import { S3Storage } from './s3.js';
import type { MediaStorage } from './storage.js';

export type { MediaStorage } from './storage.js';
export { CloudinaryStorage, LocalStorage, S3Storage };

/** The driver MEDIA_STORAGE selects; config.ts has already checked that its settings are present. */
export function createStorage(config: Config): MediaStorage & { close?(): void } {
  const { media } = config;
  if (media.storage === 's3') return new S3Storage(media.s3!);
  if (media.storage === 'cloudinary') return new CloudinaryStorage(media.cloudinary!);
  return new LocalStorage(path.join(config.dataDir, 'media'), localSigningKey(config), config.publicUrl);
}
