import type { Feature } from '../feature.js';
import { reactionsRoutes } from './reactions.routes.js';
import type { ReactionsService } from './reactions.service.js';

export { ReactionsRepository } from './reactions.repository.js';
export { ReactionsService } from './reactions.service.js';

export function reactionsFeature(reactions: ReactionsService): Feature {
  return { name: 'reactions', routes: (api) => api.register(reactionsRoutes, { reactions }) };
}
