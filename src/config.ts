import { createECDH, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';

/**
 * Every setting, read and validated once at start. A bad value stops the start with a message naming the
 * variable; nothing else in the code reads process.env.
 */
export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  dataDir: string;
  /** undefined: embedded PGlite under dataDir. "memory://": PGlite in memory (tests). */
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  /** Prefix of every Redis key and stream of this deployment, so several can share one Redis. */
  redisPrefix: string;
  jwt: {
    secret: string | undefined;
    publicKey: string | undefined;
    jwksUrl: string | undefined;
    issuer: string | undefined;
    audience: string | undefined;
    /** true when the secret was generated into dataDir (development only). */
    generated: boolean;
  };
  publicUrl: string;
  media: {
    storage: 'local' | 's3' | 'cloudinary';
    maxFileBytes: number;
    maxFiles: number;
    maxPixels: number;
    urlTtlS: number;
    /** MEDIA_URL_SECRET, which signs local media URLs; unset: derived from the JWT secret (see media/storage/local.ts). */
    urlSecret?: string | undefined;
    /** Set when storage is s3. */
    s3?: MediaS3Config | undefined;
    /** Set when storage is cloudinary. */
    cloudinary?: MediaCloudinaryConfig | undefined;
  };
  notify: NotifyConfig;
  corsOrigins: string[] | '*' | false;
  logLevel: string;
  /** Writes per user per minute before 429: one budget for REST and socket writes, shared by every instance. */
  rateLimitWritesPerMinute: number;
  search: {
    /** Searches per user per minute before 429 (reads are otherwise not limited; a search is the one costly read). */
    perMinute: number;
    /** A search taking longer than this is cut off (PostgreSQL statement timeout) and answered 503 with Retry-After. */
    timeoutMs: number;
  };
  /** Largest JSON request body in bytes; over it is 413. */
  bodyLimitBytes: number;
  /** How long in-flight work may take to finish on SIGTERM. */
  shutdownTimeoutMs: number;
  realtime: {
    /** A user whose last socket left is announced offline after this long (a quick reconnect announces nothing). */
    presenceGraceMs: number;
    /** A typing_start not renewed within this long ends with isTyping: false. */
    typingTimeoutMs: number;
    /** Largest Socket.IO message; a bigger one closes the connection. */
    maxPayloadBytes: number;
    /** How long a dropped socket's session (rooms, missed events) is kept for recovery. */
    recoveryWindowMs: number;
    /** Live sockets per user across instances; one more is refused with connect_error RATE_LIMITED. */
    maxSocketsPerUser: number;
    /** join_chat / leave_chat events per user per minute (each is a membership lookup). */
    joinsPerMinute: number;
  };
}

export interface NotifyConfig {
  webhookUrl: string | undefined;
  webhookSecret: string | undefined;
  coalesceMs: number;
  /** How long one delivery (webhook POST or push request) may take before it counts as failed and is retried. */
  timeoutMs: number;
  /** Tries per delivery before it is given up (and logged). */
  maxAttempts: number;
  /** The first retry waits about this long; each next one twice as long. */
  retryBaseMs: number;
  /** undefined: Web Push is off (production without VAPID keys). */
  vapid: VapidConfig | undefined;
  /**
   * PUSH_ALLOW_PRIVATE_ENDPOINTS=1: push endpoints may be plain http and resolve to loopback, private or link-local
   * addresses (a push service inside the operator's network, tests). Off: https and public addresses only.
   */
  pushAllowPrivateEndpoints: boolean;
}

export interface VapidConfig {
  /** base64url of the uncompressed P-256 point (65 bytes): what browsers take as applicationServerKey. */
  publicKey: string;
  /** base64url of the 32-byte private scalar. */
  privateKey: string;
  /** mailto: or https: contact that push services may use to reach the operator. */
  subject: string;
  /** true when the keys were generated into dataDir (development only). */
  generated: boolean;
}

export interface MediaS3Config {
  bucket: string;
  region: string;
  /** For S3-compatible stores (MinIO, R2, …); unset: AWS. */
  endpoint: string | undefined;
  /** Both or neither; neither: the AWS SDK's default credential chain (environment, profile, instance role). */
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  forcePathStyle: boolean;
}

export interface MediaCloudinaryConfig {
  cloudName: string;
  apiKey: string;
  apiSecret: string;
  uploadPrefix: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const str = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = str(name);
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return def;
    }
    return n;
  };
  const url = (name: string, protocols: string[]): string | undefined => {
    const raw = str(name);
    if (raw === undefined) return undefined;
    try {
      const u = new URL(raw);
      if (!protocols.includes(u.protocol)) problems.push(`${name} must use ${protocols.join(' or ')} (got "${u.protocol}")`);
    } catch {
      problems.push(`${name} is not a valid URL`);
    }
    return raw;
  };

  const nodeEnv = str('NODE_ENV');
  const envName: Config['env'] = nodeEnv === 'production' ? 'production' : nodeEnv === 'test' ? 'test' : 'development';
  const production = envName === 'production';

  const port = int('PORT', 3000, 0, 65535);
  const host = str('HOST') ?? '0.0.0.0';
  const dataDir = path.resolve(str('DATA_DIR') ?? './data');

  const databaseUrl = str('DATABASE_URL');
  if (databaseUrl !== undefined && databaseUrl !== 'memory://' && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must start with postgres:// or postgresql://');
  }
  const redisUrl = url('REDIS_URL', ['redis:', 'rediss:']);

  const publicKey = str('JWT_PUBLIC_KEY')?.replace(/\\n/g, '\n');
  if (publicKey && !publicKey.includes('-----BEGIN')) problems.push('JWT_PUBLIC_KEY must be a PEM public key');
  const jwksUrl = url('JWKS_URL', ['https:', 'http:']);
  let secret = str('JWT_SECRET');
  if (secret !== undefined && Buffer.byteLength(secret) < 32) problems.push('JWT_SECRET must be at least 32 bytes');
  let generated = false;
  if (!secret && !publicKey && !jwksUrl) {
    if (production) problems.push('one of JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL is required when NODE_ENV=production');
    else {
      secret = devSecret(dataDir, 'jwt-secret');
      generated = true;
    }
  }

  const bool = (name: string, def: boolean): boolean => {
    const raw = str(name);
    if (raw === undefined) return def;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    problems.push(`${name} must be true or false (got "${raw}")`);
    return def;
  };

  const storage = str('MEDIA_STORAGE') ?? 'local';
  if (!['local', 's3', 'cloudinary'].includes(storage)) problems.push('MEDIA_STORAGE must be local, s3 or cloudinary');
  const mediaUrlSecret = str('MEDIA_URL_SECRET');
  if (mediaUrlSecret !== undefined && Buffer.byteLength(mediaUrlSecret) < 32) problems.push('MEDIA_URL_SECRET must be at least 32 bytes');
  if (storage === 'local' && production && !mediaUrlSecret && !secret) {
    problems.push(
      'MEDIA_URL_SECRET (at least 32 bytes) is required with MEDIA_STORAGE=local when NODE_ENV=production and JWT_SECRET is not set',
    );
  }
  const s3 = storage === 's3' ? s3Config(str, url, bool, problems) : undefined;
  const cloudinary = storage === 'cloudinary' ? cloudinaryConfig(str, url, problems) : undefined;

  const publicUrl = (url('PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`).replace(/\/+$/, '');

  const webhookUrl = url('NOTIFY_WEBHOOK_URL', ['http:', 'https:']);
  let webhookSecret = str('NOTIFY_WEBHOOK_SECRET');
  if (webhookUrl && !webhookSecret) {
    if (production) problems.push('NOTIFY_WEBHOOK_SECRET is required with NOTIFY_WEBHOOK_URL when NODE_ENV=production');
    else webhookSecret = devSecret(dataDir, 'webhook-secret');
  }

  const corsRaw = str('CORS_ORIGINS');
  const corsOrigins: Config['corsOrigins'] =
    corsRaw === undefined
      ? production
        ? false
        : '*'
      : corsRaw === '*'
        ? '*'
        : corsRaw
            .split(',')
            .map((o) => o.trim())
            .filter(Boolean);

  const logLevel = str('LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  const config: Config = {
    env: envName,
    port,
    host,
    dataDir,
    databaseUrl,
    redisUrl,
    redisPrefix: str('REDIS_PREFIX') ?? 'chat',
    jwt: { secret, publicKey, jwksUrl, issuer: str('JWT_ISSUER'), audience: str('JWT_AUDIENCE'), generated },
    publicUrl,
    media: {
      storage: storage as Config['media']['storage'],
      maxFileBytes: int('MEDIA_MAX_FILE_BYTES', 26214400, 1, 2 ** 40),
      maxFiles: int('MEDIA_MAX_FILES', 10, 1, 100),
      maxPixels: int('MEDIA_MAX_PIXELS', 100_000_000, 1, 2 ** 40),
      urlTtlS: int('MEDIA_URL_TTL_S', 3600, 1, 7 * 24 * 3600),
      urlSecret: mediaUrlSecret,
      s3,
      cloudinary,
    },
    notify: {
      webhookUrl,
      webhookSecret,
      coalesceMs: int('NOTIFY_COALESCE_MS', 2000, 0, 600_000),
      timeoutMs: int('NOTIFY_TIMEOUT_MS', 10_000, 100, 120_000),
      maxAttempts: int('NOTIFY_MAX_ATTEMPTS', 8, 1, 100),
      retryBaseMs: int('NOTIFY_RETRY_BASE_MS', 1000, 10, 3_600_000),
      vapid: vapidConfig(str, dataDir, production, problems),
      pushAllowPrivateEndpoints: bool('PUSH_ALLOW_PRIVATE_ENDPOINTS', false),
    },
    corsOrigins,
    logLevel,
    rateLimitWritesPerMinute: int('RATE_LIMIT_WRITES_PER_MINUTE', 600, 1, 1_000_000),
    search: {
      perMinute: int('RATE_LIMIT_SEARCHES_PER_MINUTE', 60, 1, 1_000_000),
      timeoutMs: int('SEARCH_TIMEOUT_MS', 3000, 100, 600_000),
    },
    bodyLimitBytes: int('BODY_LIMIT_BYTES', 256 * 1024, 1024, 64 * 1024 * 1024),
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    realtime: {
      presenceGraceMs: int('PRESENCE_GRACE_MS', 5000, 0, 600_000),
      typingTimeoutMs: int('TYPING_TIMEOUT_MS', 5000, 100, 60_000),
      maxPayloadBytes: int('SOCKET_MAX_PAYLOAD_BYTES', 128 * 1024, 1024, 64 * 1024 * 1024),
      recoveryWindowMs: int('SOCKET_RECOVERY_WINDOW_MS', 120_000, 0, 3_600_000),
      maxSocketsPerUser: int('MAX_SOCKETS_PER_USER', 20, 1, 100_000),
      joinsPerMinute: int('RATE_LIMIT_JOINS_PER_MINUTE', 300, 1, 1_000_000),
    },
  };
  if (problems.length) throw new ConfigError(problems);
  return config;
}

type Read = (name: string) => string | undefined;
type ReadUrl = (name: string, protocols: string[]) => string | undefined;

function s3Config(str: Read, url: ReadUrl, bool: (name: string, def: boolean) => boolean, problems: string[]): MediaS3Config {
  const bucket = str('S3_BUCKET');
  if (!bucket) problems.push('S3_BUCKET is required with MEDIA_STORAGE=s3');
  const accessKeyId = str('S3_ACCESS_KEY_ID');
  const secretAccessKey = str('S3_SECRET_ACCESS_KEY');
  if (!accessKeyId !== !secretAccessKey) {
    problems.push('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together (set neither to use the AWS default credential chain)');
  }
  return {
    bucket: bucket ?? '',
    region: str('S3_REGION') ?? 'us-east-1',
    endpoint: url('S3_ENDPOINT', ['http:', 'https:'])?.replace(/\/+$/, ''),
    accessKeyId,
    secretAccessKey,
    forcePathStyle: bool('S3_FORCE_PATH_STYLE', false),
  };
}

/** CLOUDINARY_URL (cloudinary://<api_key>:<api_secret>@<cloud_name>), or its three parts, which win over it. */
function cloudinaryConfig(str: Read, url: ReadUrl, problems: string[]): MediaCloudinaryConfig {
  let fromUrl: { cloudName?: string; apiKey?: string; apiSecret?: string } = {};
  const raw = str('CLOUDINARY_URL');
  if (raw !== undefined) {
    const u = URL.canParse(raw) ? new URL(raw) : undefined;
    if (!u || u.protocol !== 'cloudinary:' || !u.hostname || !u.username || !u.password) {
      problems.push('CLOUDINARY_URL must look like cloudinary://<api_key>:<api_secret>@<cloud_name>');
    } else {
      fromUrl = { cloudName: u.hostname, apiKey: decodeURIComponent(u.username), apiSecret: decodeURIComponent(u.password) };
    }
  }
  const cloudName = str('CLOUDINARY_CLOUD_NAME') ?? fromUrl.cloudName;
  const apiKey = str('CLOUDINARY_API_KEY') ?? fromUrl.apiKey;
  const apiSecret = str('CLOUDINARY_API_SECRET') ?? fromUrl.apiSecret;
  const missing = [
    ...(cloudName ? [] : ['CLOUDINARY_CLOUD_NAME']),
    ...(apiKey ? [] : ['CLOUDINARY_API_KEY']),
    ...(apiSecret ? [] : ['CLOUDINARY_API_SECRET']),
  ];
  if (missing.length && raw === undefined) {
    problems.push(
      `MEDIA_STORAGE=cloudinary needs CLOUDINARY_URL, or CLOUDINARY_CLOUD_NAME, CLOUDINARY_API_KEY and CLOUDINARY_API_SECRET (missing: ${missing.join(', ')})`,
    );
  }
  return {
    cloudName: cloudName ?? '',
    apiKey: apiKey ?? '',
    apiSecret: apiSecret ?? '',
    uploadPrefix: (url('CLOUDINARY_UPLOAD_PREFIX', ['https:', 'http:']) ?? 'https://api.cloudinary.com').replace(/\/+$/, ''),
  };
}

/**
 * VAPID keys and subject. All three in production when Web Push is wanted (none: Web Push is off); in development the
 * keys are generated into DATA_DIR once, so browser subscriptions (bound to the public key) survive restarts.
 */
function vapidConfig(str: Read, dataDir: string, production: boolean, problems: string[]): VapidConfig | undefined {
  let publicKey = str('VAPID_PUBLIC_KEY');
  let privateKey = str('VAPID_PRIVATE_KEY');
  let subject = str('VAPID_SUBJECT');
  let generated = false;
  if (!publicKey && !privateKey) {
    if (production) {
      if (subject) problems.push('VAPID_SUBJECT is set but VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY are not (all three turn Web Push on)');
      return undefined;
    }
    ({ publicKey, privateKey } = devVapidKeys(dataDir));
    generated = true;
  } else if (!publicKey || !privateKey) {
    problems.push('VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY go together');
    return undefined;
  } else {
    const problem = vapidKeyProblem(publicKey, privateKey);
    if (problem) problems.push(problem);
  }
  if (subject === undefined) {
    if (production) problems.push('VAPID_SUBJECT (a mailto: or https: contact) is required with the VAPID keys when NODE_ENV=production');
    subject = 'mailto:chat-service@localhost';
  } else if (!/^(mailto:\S+@\S+|https:\/\/\S+)$/.test(subject)) {
    problems.push('VAPID_SUBJECT must be a mailto: address or an https: URL');
  }
  return { publicKey, privateKey, subject, generated };
}

function vapidKeyProblem(publicKey: string, privateKey: string): string | undefined {
  const b64url = /^[A-Za-z0-9_-]+$/;
  const pub = b64url.test(publicKey) ? Buffer.from(publicKey, 'base64url') : Buffer.alloc(0);
  if (pub.length !== 65 || pub[0] !== 4)
    return 'VAPID_PUBLIC_KEY must be the base64url (no padding) of an uncompressed P-256 point (65 bytes)';
  const priv = b64url.test(privateKey) ? Buffer.from(privateKey, 'base64url') : Buffer.alloc(0);
  if (priv.length !== 32) return 'VAPID_PRIVATE_KEY must be the base64url (no padding) of a 32-byte P-256 private key';
  try {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(priv);
    // A mismatched pair would be refused by every push service (403), silently; better to stop at start.
    if (!ecdh.getPublicKey().equals(pub)) return 'VAPID_PUBLIC_KEY is not the public key of VAPID_PRIVATE_KEY';
  } catch {
    return 'VAPID_PRIVATE_KEY is not a valid P-256 private key';
  }
  return undefined;
}

/** A development-only VAPID key pair kept in DATA_DIR (see devSecret). */
export function devVapidKeys(dataDir: string): { publicKey: string; privateKey: string } {
  const file = path.join(dataDir, 'vapid-keys.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as { publicKey: string; privateKey: string };
  mkdirSync(dataDir, { recursive: true });
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const keys = {
    publicKey: Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]).toString('base64url'),
    privateKey: jwk.d!,
  };
  writeFileSync(file, JSON.stringify(keys) + '\n', { mode: 0o600 });
  return keys;
}

/** A development-only secret kept in DATA_DIR so tokens (and signed media URLs) survive restarts. */
export function devSecret(dataDir: string, name: string): string {
  const file = path.join(dataDir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  return secret;
}
