import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { AuthContext, TokenVerifier } from './tokens.js';

/** Keeps the profile a token carries (the users feature); auth itself depends on no feature. */
export interface ProfileKeeper {
  remember(auth: AuthContext): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext;
  }
}

export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** onRequest hook for the API scope: a verified token, or 401 before anything else runs. */
export function authenticate(verifier: TokenVerifier, users: ProfileKeeper) {
  return async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request.headers.authorization);
    if (!token) throw new AppError('UNAUTHORIZED', 'Missing bearer token');
    request.auth = await verifier.verify(token);
    await users.remember(request.auth);
  };
}
