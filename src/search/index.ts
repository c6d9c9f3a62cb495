import type { Feature } from '../feature.js';
import type { RateLimiter } from '../limits/rate-limiter.js';
import type { SearchLimitsOptions } from './search.limits.js';
import { searchRoutes } from './search.routes.js';
import type { SearchService } from './search.service.js';

export { SearchRepository } from './search.repository.js';
export { SearchService } from './search.service.js';

/** `limiter`: each user's search budget; the feature owns it and closes it when it stops. */
export function searchFeature(search: SearchService, limiter: RateLimiter, opts: SearchLimitsOptions): Feature {
  return {
    name: 'search',
    routes: (api) => api.register(searchRoutes, { search, limiter, ...opts }),
    stop: () => limiter.close(),
  };
}
