import type { Feature } from '../feature.js';
import { pinsRoutes } from './pins.routes.js';
import type { PinsService } from './pins.service.js';

export { PinsRepository } from './pins.repository.js';
export { PinsService } from './pins.service.js';

export function pinsFeature(pins: PinsService): Feature {
  return { name: 'pins', routes: (api) => api.register(pinsRoutes, { pins }) };
}
