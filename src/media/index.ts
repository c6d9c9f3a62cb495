import path from 'node:path';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { RoomAccessGuard } from '../rooms/rooms.access.js';
import { MediaRepository } from './media.repository.js';
import { MediaService } from './media.service.js';
import { createStorage } from './storage/index.js';

export { mediaFileRoutes } from './media.files.js';
export { registerMultipart, withMultipartMessage, type MultipartMessageFields } from './media.multipart.js';
export { mediaRoutes } from './media.routes.js';
export { MediaService, PENDING_TTL_MS, type IncomingFile, type MediaView, type PendingMedia } from './media.service.js';
export type { MediaRow } from './media.repository.js';

/** The media service on the driver MEDIA_STORAGE selects; uploads stream through DATA_DIR/tmp. */
export function createMediaService(config: Config, db: Db, guard: RoomAccessGuard): MediaService {
  const { maxFileBytes, maxFiles, maxPixels, urlTtlS } = config.media;
  return new MediaService(new MediaRepository(db), guard, createStorage(config), {
    maxFileBytes,
    maxFiles,
    maxPixels,
    urlTtlS,
    tmpDir: path.join(config.dataDir, 'tmp'),
  });
}
