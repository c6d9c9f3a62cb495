import { forbidden } from '../errors.js';
import type { AuthContext } from './tokens.js';

/**
 * Admin routes (`/admin/…`) are for the platform's `admin` role only: `support` staff moderate support rooms, not the
 * platform. The first line of every admin service method, so a socket or job caller meets the same rule as HTTP.
 */
export function assertAdmin(auth: Pick<AuthContext, 'role'>): void {
  if (auth.role !== 'admin') throw forbidden('only a platform admin can do this');
}
