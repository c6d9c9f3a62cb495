import type { Feature } from '../feature.js';
import { roomsRoutes } from './rooms.routes.js';
import type { RoomsService } from './rooms.service.js';

export { RoomAccessGuard } from './rooms.access.js';
export { RoomPresenter } from './rooms.presenter.js';
export { RoomsRepository } from './rooms.repository.js';
export { RoomsService } from './rooms.service.js';

export function roomsFeature(rooms: RoomsService): Feature {
  return { name: 'rooms', routes: (api) => api.register(roomsRoutes, { rooms }) };
}
