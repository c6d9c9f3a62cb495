import { devSecret } from './dev-secrets.js';
import type { Basics, EnvReader } from './readers.js';

export interface JwtConfig {
  secret: string | undefined;
  publicKey: string | undefined;
  jwksUrl: string | undefined;
  issuer: string | undefined;
  audience: string | undefined;
  /** true when the secret was generated into dataDir (development only). */
  generated: boolean;
}

/** One of a shared secret, a PEM public key or a JWKS URL; development without any generates a secret. */
export function jwtConfig(read: EnvReader, { production, dataDir }: Basics): JwtConfig {
  const publicKey = read.str('JWT_PUBLIC_KEY')?.replace(/\\n/g, '\n');
  if (publicKey && !publicKey.includes('-----BEGIN')) read.problems.push('JWT_PUBLIC_KEY must be a PEM public key');
  const jwksUrl = read.url('JWKS_URL', ['https:', 'http:']);
  let secret = read.str('JWT_SECRET');
  if (secret !== undefined && Buffer.byteLength(secret) < 32) read.problems.push('JWT_SECRET must be at least 32 bytes');
  let generated = false;
  if (!secret && !publicKey && !jwksUrl) {
    if (production) read.problems.push('one of JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL is required when NODE_ENV=production');
    else {
      secret = devSecret(dataDir, 'jwt-secret');
      generated = true;
    }
  }
  return { secret, publicKey, jwksUrl, issuer: read.str('JWT_ISSUER'), audience: read.str('JWT_AUDIENCE'), generated };
}

/**
 * Whether POST /dev/token mints tokens for anyone who asks: on by default outside production, and in production only
 * when DEV_SIGN_IN=1 (a demo or staging box). Its tokens are signed with the HS256 secret, which the service only
 * verifies when no public key or JWKS is configured; asked for explicitly without one, the start stops.
 */
export function devSignInConfig(read: EnvReader, { production }: Basics, jwt: JwtConfig): boolean {
  const asked = read.str('DEV_SIGN_IN') !== undefined;
  const on = read.bool('DEV_SIGN_IN', !production);
  const mints = Boolean(jwt.secret) && !jwt.publicKey && !jwt.jwksUrl;
  if (on && !mints && asked)
    read.problems.push(
      'DEV_SIGN_IN needs an HS256 secret to mint tokens: set JWT_SECRET and neither JWT_PUBLIC_KEY nor JWKS_URL (or unset DEV_SIGN_IN)',
    );
  return on && mints;
}
