import type { ReadRouting } from '../db/replicas.js';
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import type { EventBus } from '../events.js';
import type { Feature } from '../feature.js';
import type { MediaService } from '../media/index.js';
import type { MessageChangesService } from '../messages/index.js';
import type { RoomsRepository } from '../rooms/rooms.repository.js';
import { adminRoutes } from './admin.routes.js';
import { AdminService } from './admin.service.js';
import { EraseJobs } from './erase.job.js';
import { Retention } from './retention.js';

export { AdminService } from './admin.service.js';
export { EraseJobs } from './erase.job.js';
export { Retention } from './retention.js';

export interface Admin {
  service: AdminService;
  jobs: EraseJobs;
  retention: Retention;
}

export function createAdmin(
  config: Config,
  db: Db,
  deps: {
    changes: MessageChangesService;
    rooms: RoomsRepository;
    media: Pick<MediaService, 'purge'>;
    bus: EventBus;
    replicas: Pick<ReadRouting, 'readerFor'>;
    engine: 'pglite' | 'postgres';
  },
): Admin {
  const jobs = new EraseJobs(db, deps.changes, deps.rooms, deps.media, deps.bus, config.adminJobs, deps.engine === 'pglite');
  return {
    service: new AdminService(db, deps.changes, () => jobs.wake(), deps.replicas),
    jobs,
    retention: new Retention(db, deps.changes, config.retention),
  };
}

/** The admin routes; erase jobs and retention run on every instance from start to stop. */
export function adminFeature(admin: Admin): Feature {
  return {
    name: 'admin',
    routes: (api) => api.register(adminRoutes, { admin: admin.service }),
    start(log) {
      admin.jobs.start(log);
      admin.retention.start(log);
    },
    async stop() {
      await admin.retention.stop();
      await admin.jobs.stop();
    },
  };
}
