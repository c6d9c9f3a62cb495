import type { Feature } from '../feature.js';
import { readsRoutes } from './reads.routes.js';
import type { ReadsService } from './reads.service.js';

export { ReadsRepository } from './reads.repository.js';
export { ReadsService } from './reads.service.js';

export function readsFeature(reads: ReadsService): Feature {
  return { name: 'reads', routes: (api) => api.register(readsRoutes, { reads }) };
}
