import type { Feature } from '../feature.js';
import { usersRoutes } from './users.routes.js';
import type { UsersService } from './users.service.js';

export { UsersRepository } from './users.repository.js';
export { UsersService } from './users.service.js';

export function usersFeature(users: UsersService): Feature {
  return { name: 'users', routes: (api) => api.register(usersRoutes, { users }) };
}
