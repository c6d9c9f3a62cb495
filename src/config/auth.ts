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
