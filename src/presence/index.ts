import type { RedisClient } from '../redis.js';
import type { Feature } from '../feature.js';
import { presenceRoutes } from './presence.routes.js';
import type { PresenceService } from './presence.service.js';
import { MemoryPresenceStore, RedisPresenceStore, type PresenceStore } from './presence.store.js';

export { PresenceRepository } from './presence.repository.js';
export { PresenceService } from './presence.service.js';
export type { PresenceStore } from './presence.store.js';

/** Live sockets per user: in memory for one process, in Redis (keys under `prefix`) when instances share rooms. */
export function createPresenceStore(redis: RedisClient | undefined, prefix: string, instanceId: string, graceMs: number): PresenceStore {
  return redis ? new RedisPresenceStore(redis, prefix, instanceId, graceMs) : new MemoryPresenceStore();
}

/** Who is online; stopping waits for the socket arrivals and departures in flight, then leaves the shared store. */
export function presenceFeature(presence: PresenceService): Feature {
  return {
    name: 'presence',
    routes: (api) => api.register(presenceRoutes, { presence }),
    stop: () => presence.close(),
  };
}
