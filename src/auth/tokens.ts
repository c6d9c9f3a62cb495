import { createPublicKey, webcrypto } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { USER_ID_PATTERN } from '../contract/common.js';
import { createHs256Check } from './hs256.js';

export type UserRole = 'user' | 'support' | 'admin';

/** Who is calling: what a verified token says, and nothing more. */
export interface AuthContext {
  userId: string;
  name: string | null;
  picture: string | null;
  role: UserRole;
  businessIds: string[];
  /** Token expiry in epoch seconds, if the token has one. */
  exp: number | undefined;
}

const ROLES: readonly string[] = ['user', 'support', 'admin'];
const CLOCK_TOLERANCE_S = 30;
// The same rule as every user id a client sends (contract/common.ts).
const USER_ID = new RegExp(USER_ID_PATTERN, 'u');
/** A name or picture is shown and stored as given: no control characters, no unpaired surrogates (possibly empty). */
const CLAIM_TEXT = /^[^\u0000-\u001F\u007F-\u009F\uD800-\uDFFF]*$/u;

/**
 * What a `sub` may be: 1 to 128 code points (counted as the schemas count the user ids clients send), without
 * control characters or lone surrogates, which could not be named in a request, logged safely or stored exactly.
 */
export const isUserId = (value: unknown): value is string => typeof value === 'string' && USER_ID.test(value) && [...value].length <= 128;

/** How many verified tokens are remembered, and for how long at most. */
const VERIFIED_CACHE_LIMIT = 10_000;
const VERIFIED_CACHE_MS = 5 * 60_000;

export interface TokenVerifier {
  verify(token: string): Promise<AuthContext>;
}

export function createTokenVerifier(config: Config): TokenVerifier {
  const { jwt } = config;
  // Always a function that gives the key (jose's remote key set is one), so one jwtVerify call covers every kind.
  let key: JWTVerifyGetKey;
  let algorithms: string[];
  // Set when the key is a shared secret: its valid tokens are then checked without WebCrypto (hs256.ts).
  let sharedSecret: string | undefined;
  if (jwt.jwksUrl) {
    key = createRemoteJWKSet(new URL(jwt.jwksUrl));
    algorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
  } else if (jwt.publicKey) {
    const publicKey = createPublicKey(jwt.publicKey);
    key = () => publicKey;
    const type = publicKey.asymmetricKeyType;
    algorithms =
      type === 'ec'
        ? ['ES256', 'ES384', 'ES512']
        : type === 'ed25519'
          ? ['EdDSA', 'Ed25519']
          : ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
  } else if (jwt.secret) {
    // Imported into WebCrypto once: given the raw bytes, jose imports them again for every token it verifies, which
    // was over a third of a fresh token's verification (each connect of a reconnect storm brings one).
    const secretKey = webcrypto.subtle.importKey('raw', new TextEncoder().encode(jwt.secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
      'verify',
    ]);
    key = () => secretKey;
    algorithms = ['HS256'];
    sharedSecret = jwt.secret;
  } else {
    throw new Error('no JWT key configured');
  }
  const options = {
    algorithms,
    clockTolerance: CLOCK_TOLERANCE_S,
    ...(jwt.issuer ? { issuer: jwt.issuer } : {}),
    ...(jwt.audience ? { audience: jwt.audience } : {}),
    ...(config.env === 'production' ? { requiredClaims: ['exp'] } : {}),
  };
  // Whatever the fast check does not accept goes to jose.
  const fast = sharedSecret === undefined ? undefined : createHs256Check(sharedSecret, options);

  // A client sends the same token with every request: its verified claims are kept until it expires (and for a few
  // minutes at most, so a key withdrawn from a JWKS stops being honoured soon), sparing a signature check per call.
  const verified = new Map<string, { auth: AuthContext; until: number }>();
  return {
    async verify(token: string): Promise<AuthContext> {
      const now = Date.now();
      const hit = verified.get(token);
      if (hit && hit.until > now) return hit.auth;
      if (hit) verified.delete(token);
      let payload: JWTPayload;
      try {
        // jose refuses alg "none" and any algorithm outside `algorithms`.
        payload = fast?.(token) ?? (await jwtVerify(token, key, options)).payload;
      } catch {
        throw new AppError('UNAUTHORIZED', 'Invalid or expired token');
      }
      const auth = claimsToAuth(payload);
      const expires = auth.exp === undefined ? Infinity : (auth.exp + CLOCK_TOLERANCE_S) * 1000;
      if (verified.size >= VERIFIED_CACHE_LIMIT) verified.delete(verified.keys().next().value as string);
      verified.set(token, { auth, until: Math.min(expires, now + VERIFIED_CACHE_MS) });
      return auth;
    },
  };
}

function claimsToAuth(p: JWTPayload): AuthContext {
  const bad = (what: string) => new AppError('UNAUTHORIZED', `Invalid token: ${what}`);
  if (!isUserId(p.sub)) throw bad('sub must be a string of 1 to 128 characters, without control characters');
  const name = p['name'];
  const picture = p['picture'];
  const role = p['role'] ?? 'user';
  const businessIds = p['businessIds'] ?? [];
  // Refused rather than cleaned, as `sub` is: the issuer has a bug, and a NUL could not even be stored.
  if (name !== undefined && name !== null && !(typeof name === 'string' && CLAIM_TEXT.test(name)))
    throw bad('name must be a string without control characters');
  if (picture !== undefined && picture !== null && !(typeof picture === 'string' && CLAIM_TEXT.test(picture)))
    throw bad('picture must be a string without control characters');
  if (typeof role !== 'string' || !ROLES.includes(role)) throw bad('role must be user, support or admin');
  // Business ids are compared with those clients send and stored on rooms: the same rule as user ids.
  if (!Array.isArray(businessIds) || !businessIds.every(isUserId))
    throw bad('businessIds must be an array of ids of 1 to 128 characters, without control characters');
  return {
    userId: p.sub,
    name: typeof name === 'string' ? name : null,
    picture: typeof picture === 'string' ? picture : null,
    role: role as UserRole,
    businessIds: businessIds as string[],
    exp: typeof p.exp === 'number' ? p.exp : undefined,
  };
}

export interface MintOptions {
  name?: string;
  picture?: string;
  role?: UserRole;
  businessIds?: string[];
  /** jose duration ("1h", "7d") or epoch seconds; default 24 h. */
  expiresIn?: string | number;
  issuer?: string;
  audience?: string;
}

/** Signs an HS256 token (development, tests and the token CLI). */
export async function mintToken(secret: string, userId: string, opts: MintOptions = {}): Promise<string> {
  const claims: Record<string, unknown> = {};
  if (opts.name !== undefined) claims['name'] = opts.name;
  if (opts.picture !== undefined) claims['picture'] = opts.picture;
  if (opts.role !== undefined) claims['role'] = opts.role;
  if (opts.businessIds !== undefined) claims['businessIds'] = opts.businessIds;
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(userId).setIssuedAt();
  jwt.setExpirationTime(opts.expiresIn ?? '24h');
  if (opts.issuer) jwt.setIssuer(opts.issuer);
  if (opts.audience) jwt.setAudience(opts.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
