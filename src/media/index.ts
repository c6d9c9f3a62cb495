import path from 'node:path';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { Feature } from '../feature.js';
import type { RoomAccessGuard } from '../rooms/rooms.access.js';
import { mediaFileRoutes } from './media.files.js';
import { MediaRepository } from './media.repository.js';
import { mediaRoutes } from './media.routes.js';
import { MediaService } from './media.service.js';
import { createStorage } from './storage/index.js';

export { registerMultipart, withMultipartMessage, type MultipartMessageFields } from './media.multipart.js';
export { MediaService, PENDING_TTL_MS, type IncomingFile, type MediaView, type PendingMedia } from './media.service.js';
export { GARBAGE_BACKOFF_BASE_S, GARBAGE_BACKOFF_MAX_S, type MediaRow } from './media.repository.js';

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

/**
 * Uploads under the API; the files themselves outside it (signed URLs, no token). Starting loads the S3 or Cloudinary
 * SDK when that driver is configured, so a start still fails on it; then unused uploads are swept until it stops.
 */
export function mediaFeature(media: MediaService, maxFiles: number): Feature {
  return {
    name: 'media',
    routes: (api) => api.register(mediaRoutes, { media, maxFiles }),
    publicRoutes: (http) => http.register(mediaFileRoutes, { storage: media.storage, isErased: (key) => media.isErased(key) }),
    async start(log) {
      await media.storage.prepare?.();
      media.start(log);
    },
    stop: () => media.stop(),
  };
}
