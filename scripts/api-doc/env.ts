/**
 * The environment variables for docs/api.md: names, kinds, bounds and literal defaults are read from src/config
 * itself (the one place that reads the environment); what each one means is written here. A variable the
 * configuration reads without an entry here, or an entry for one it no longer reads, stops the generator.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOM_TYPES } from '../../src/config/retention.js';

interface Described {
  /** What it does, in one or two sentences. */
  text: string;
  /** The default when the code has none a scan can read (computed, or depending on other settings). */
  default?: string;
  /** Shown instead of the name (a family of variables). */
  label?: string;
  /** What values it takes, where the scan cannot tell (read through a helper). */
  accepts?: string;
}

const DESCRIBED: Record<string, Described> = {
  NODE_ENV: {
    text: '`production` turns on the strict checks: a JWT key and `exp` required, no generated secrets, no CORS by default, no `POST /dev/token`',
    default: 'unset (development)',
  },
  PORT: { text: 'where HTTP and WebSocket listen' },
  HOST: { text: 'the address to listen on' },
  DATA_DIR: {
    text: 'the embedded database (`DATA_DIR/pg`, or `DATA_DIR/db` for PGlite), local media and generated development secrets',
  },
  PUBLIC_URL: { text: 'the address clients reach the service at; media URLs are absolute under it', default: '`http://localhost:$PORT`' },
  CORS_ORIGINS: {
    text: 'comma-separated browser origins allowed for REST and sockets (`*`: any)',
    default: 'any origin in development; none in production',
  },
  LOG_LEVEL: { text: 'pino level: `fatal` `error` `warn` `info` `debug` `trace` `silent`' },
  LOG_FORMAT: {
    text: '`json` (one JSON object a line) or `pretty` (readable lines, through pino-pretty)',
    default: '`pretty` when stdout is a terminal and `NODE_ENV` is not `production`; `json` otherwise',
  },
  SHUTDOWN_TIMEOUT_MS: { text: 'how long in-flight work may take on SIGTERM/SIGINT before the process exits anyway' },
  DATABASE_URL: { text: '`postgres://…` selects your PostgreSQL; unset selects the embedded engine under `DATA_DIR`' },
  DATABASE_POOLER: {
    text: '`pgbouncer`: `DATABASE_URL` reaches PostgreSQL through a transaction-mode pooler, so no statement is prepared by name ([deploy](deploy.md#postgresql)); `none`: direct, or a session-mode pooler',
  },
  DATABASE_READ_URLS: {
    text: "`postgres://…,…`: streaming replicas of `DATABASE_URL`'s server; history, room lists, receipts, changes and search read there, and a user's reads after their own write wait for a replica that has replayed it (by WAL position) ([deploy](deploy.md#read-replicas))",
  },
  DATABASE_PARTITIONS: {
    text: 'hash partitions of `chat_message` by room, and of its reactions and edits by message (1: plain tables); chosen at install, changed on an existing database by `npm run migrate -- --repartition` ([deploy](deploy.md#partitioned-messages))',
  },
  DATABASE_READ_MAX_LAG_MS: { text: 'a replica further behind the primary than this (ms) is not read from until it catches up' },
  EMBEDDED_ENGINE: {
    text: 'without `DATABASE_URL`: `postgres` (a PostgreSQL server the service runs itself) or `pglite` (PostgreSQL in WebAssembly, in a worker thread)',
    default: '`postgres`; `pglite` when `DATA_DIR` holds only an older PGlite database',
  },
  REDIS_URL: { text: 'Redis for several instances: fan-out, presence, typing and rate limits go through it ([deploy](deploy.md))' },
  REDIS_CLUSTER_NODES: {
    text: '`host:port,…`, any few nodes of a Redis Cluster (Redis 7), instead of `REDIS_URL`: fan-out through sharded pub/sub ([deploy](deploy.md#redis))',
  },
  REDIS_PREFIX: { text: 'prefix of every Redis key and stream of this deployment, so several deployments can share one Redis' },
  JWT_SECRET: {
    text: 'HS256 secret, at least 32 bytes',
    default: 'development: generated into `DATA_DIR/jwt-secret`; production: this or `JWT_PUBLIC_KEY` or `JWKS_URL` is required',
  },
  JWT_PUBLIC_KEY: { text: 'PEM public key (RS*, PS* or ES*); `\\n` escapes are accepted' },
  JWKS_URL: { text: 'the JWKS endpoint of your identity provider' },
  JWT_ISSUER: { text: 'the `iss` every token must carry, when set' },
  JWT_AUDIENCE: { text: 'the `aud` every token must carry, when set' },
  DEV_SIGN_IN: {
    text: '`1`: serve `POST /dev/token` even in production (a demo box); `0`: not even in development. Needs `JWT_SECRET` without `JWT_PUBLIC_KEY` or `JWKS_URL`',
    default: 'on unless `NODE_ENV=production`',
  },
  MEDIA_STORAGE: { text: 'where uploaded files go: `local` (under `DATA_DIR/media`), `s3` or `cloudinary`' },
  MEDIA_URL_SECRET: {
    text: 'HMAC key (at least 32 bytes) that signs local media URLs',
    default: 'derived from `JWT_SECRET`; required in production with `local` storage and no `JWT_SECRET`',
  },
  MEDIA_MAX_FILE_BYTES: { text: 'the largest uploaded file (larger: 413)' },
  MEDIA_MAX_FILES: { text: 'files in one message or upload (more: 413)' },
  MEDIA_MAX_PIXELS: { text: 'the largest image, in pixels (larger: 413)' },
  MEDIA_URL_TTL_S: { text: 'how long a signed media URL works' },
  S3_BUCKET: { text: 'the bucket of the `s3` driver', default: 'required with `MEDIA_STORAGE=s3`' },
  S3_REGION: { text: 'its region' },
  S3_ENDPOINT: { text: 'an S3-compatible store (MinIO, R2, …)', default: 'AWS' },
  S3_ACCESS_KEY_ID: { text: 'credentials, with `S3_SECRET_ACCESS_KEY`', default: 'the AWS default credential chain' },
  S3_SECRET_ACCESS_KEY: { text: 'credentials, with `S3_ACCESS_KEY_ID`', default: 'the AWS default credential chain' },
  S3_FORCE_PATH_STYLE: { text: 'path-style bucket addressing (most self-hosted stores want it)' },
  CLOUDINARY_URL: {
    text: 'the `cloudinary` driver: `cloudinary://<api_key>:<api_secret>@<cloud_name>`, or the three variables below',
    default: 'required with `MEDIA_STORAGE=cloudinary` (or the three below)',
  },
  CLOUDINARY_CLOUD_NAME: { text: 'Cloudinary cloud name (wins over `CLOUDINARY_URL`)' },
  CLOUDINARY_API_KEY: { text: 'Cloudinary API key (wins over `CLOUDINARY_URL`)' },
  CLOUDINARY_API_SECRET: { text: 'Cloudinary API secret (wins over `CLOUDINARY_URL`)' },
  CLOUDINARY_UPLOAD_PREFIX: { text: 'the Cloudinary API address' },
  NOTIFY_WEBHOOK_URL: { text: 'where offline notifications are POSTed' },
  NOTIFY_WEBHOOK_SECRET: {
    text: 'the HMAC secret that signs them (`X-Chat-Signature`)',
    default: 'development: generated into `DATA_DIR`; required in production with `NOTIFY_WEBHOOK_URL`',
  },
  NOTIFY_COALESCE_MS: { text: 'how long notifications for one user and room are gathered into one' },
  NOTIFY_TIMEOUT_MS: { text: 'how long one delivery try (webhook POST or push request) may take before it counts as failed' },
  NOTIFY_MAX_ATTEMPTS: { text: 'tries per delivery before it is given up (and logged)' },
  NOTIFY_RETRY_BASE_MS: {
    text: 'wait before the first retry; doubles with each try (±20 % jitter, at most 1 h; a `Retry-After` is honoured)',
  },
  VAPID_PUBLIC_KEY: {
    text: 'the Web Push public key, base64url without padding (a 65-byte P-256 point), e.g. from `npx web-push generate-vapid-keys`',
    default: 'development: generated into `DATA_DIR/vapid-keys.json`; production: unset turns Web Push off',
  },
  VAPID_PRIVATE_KEY: {
    text: 'its private key (32 bytes, base64url)',
    default: 'development: generated into `DATA_DIR/vapid-keys.json`; production: unset turns Web Push off',
  },
  VAPID_SUBJECT: {
    text: 'a `mailto:` address or `https:` URL push services may contact you at',
    default: 'development: `mailto:chat-service@localhost`; required in production with the keys',
  },
  PUSH_ALLOW_PRIVATE_ENDPOINTS: {
    text: '`1`: push endpoints may be `http` and resolve to loopback, private or link-local addresses (a push service inside your network)',
  },
  RATE_LIMIT_WRITES_PER_MINUTE: {
    text: 'writes per user per minute before 429 `RATE_LIMITED`: one budget for REST and socket writes together, shared by every instance',
  },
  RATE_LIMIT_SEARCHES_PER_MINUTE: { text: 'searches per user per minute before 429 `RATE_LIMITED`' },
  SEARCH_TIMEOUT_MS: { text: 'a search running longer is cut off and answered 503 `UNAVAILABLE` with `Retry-After`' },
  BODY_LIMIT_BYTES: { text: 'the largest JSON request body (larger: 413)' },
  MESSAGE_EDIT_WINDOW_S: { text: 'how long after sending its sender may edit a message (past it: 403); `0`: always' },
  PRESENCE_GRACE_MS: { text: "how long after a user's last socket leaves before `user_offline` (a quick reconnect announces nothing)" },
  TYPING_TIMEOUT_MS: { text: 'how long a `typing_start` lasts unless renewed' },
  SOCKET_MAX_PAYLOAD_BYTES: { text: 'the largest Socket.IO message (a larger one closes that connection)' },
  SOCKET_RECOVERY_WINDOW_MS: { text: "how long a dropped socket's session is kept for connection state recovery" },
  MAX_SOCKETS_PER_USER: { text: 'live sockets per user across all instances; one more gets `connect_error` `RATE_LIMITED`' },
  RATE_LIMIT_JOINS_PER_MINUTE: { text: '`join_chat` / `leave_chat` events per user per minute' },
  RETENTION_DAYS: {
    text: 'messages older than this many days become tombstones (`deletedBy: "system"`), in the background ([admin](admin.md))',
    default: 'unset: kept forever',
    accepts: 'integer 1–36500',
  },
  'RETENTION_DAYS_*': {
    label: ROOM_TYPES.map((t) => `\`RETENTION_DAYS_${t.toUpperCase()}\``).join(', '),
    text: 'the same for one room type, overriding `RETENTION_DAYS`',
    default: '`RETENTION_DAYS`',
    accepts: 'integer 1–36500',
  },
  RETENTION_INTERVAL_MS: { text: 'how often each instance looks for expired messages' },
  RETENTION_BATCH_SIZE: { text: 'messages tombstoned per transaction (the room is locked for one batch only)' },
  RETENTION_PAUSE_MS: { text: 'least pause between two batches (retention rests three times as long as each batch took anyway)' },
  ERASE_BATCH_SIZE: { text: 'messages an erase (`DELETE /admin/users/{userId}`) tombstones per transaction' },
  ADMIN_JOB_LEASE_MS: { text: 'how long a running admin job stays with its instance without news; then any instance takes it over' },
  ADMIN_JOB_POLL_MS: { text: 'how often each instance looks for a queued admin job' },
  ADMIN_JOB_PAUSE_MS: { text: 'a rest after each batch of an erase, to leave the database to live traffic' },
  WEBHOOK_ALLOW_PRIVATE_URLS: {
    text: '`1`: outgoing webhook URLs may be `http` and resolve to loopback, private or link-local addresses ([webhooks](webhooks.md))',
  },
  WEBHOOK_RETRY_BASE_MS: {
    text: "an outgoing webhook's first retry waits up to this long (full jitter); each next up to twice as long, at most 1 h",
  },
  WEBHOOK_RETRY_FOR_S: { text: 'a delivery still failing this long after its event was queued is given up (`failed`)' },
  WEBHOOK_TIMEOUT_MS: { text: 'how long one outgoing webhook POST may take before it counts as failed' },
};

/** The sections of docs/api.md's table, one per file of src/config; a new file lands at the end under its own name. */
const SECTIONS: Record<string, string> = {
  'server.ts': 'Server',
  'database.ts': 'Database and Redis',
  'auth.ts': 'Tokens',
  'media.ts': 'Media storage',
  'notify.ts': 'Offline notifications and Web Push',
  'limits.ts': 'Rates and sizes',
  'realtime.ts': 'Sockets and presence',
  'retention.ts': 'Retention and admin jobs',
  'webhooks.ts': 'Outgoing webhooks',
};

export interface EnvVar {
  name: string;
  /** The section (file of src/config) it is read in. */
  file: string;
  kind: 'str' | 'int' | 'bool' | 'url' | 'family';
  default?: string;
  accepts?: string;
}

// `read.int('PORT', 3000, 0, 65535)`, `read.str('HOST') ?? '0.0.0.0'`, `optionalDays(read, 'RETENTION_DAYS')`, and a
// family built from a template: `RETENTION_DAYS_${type…}`.
const READ = /\bread\.(str|int|bool|url)\(\s*'([A-Z][A-Z0-9_]*)'\s*(?:,([^)]*))?\)(?:\s*\?\?\s*'([^']*)')?/g;
const PASSED = /\(\s*read\s*,\s*'([A-Z][A-Z0-9_]*)'/g;
const FAMILY = /`([A-Z][A-Z0-9_]*_)\$\{/g;

/** Only arithmetic on literals (`128 * 1024`, `2 ** 40`); anything else is left for a hand-written default. */
function evaluate(expr: string): number | undefined {
  const e = expr.trim();
  if (!/^[\d_\s*+\-()]+$/.test(e)) return undefined;
  return Function(`"use strict"; return (${e});`)() as number;
}

/** Top-level commas only: `['https:', 'http:']` is one argument. */
function splitArgs(args: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of args) {
    if (ch === '[' || ch === '(') depth++;
    if (ch === ']' || ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

/** One `read.<kind>(…)` call: its kind, and what its arguments say of the default and the values taken. */
function typedRead(m: RegExpMatchArray, file: string): EnvVar {
  const [, kind, name, rawArgs, fallback] = m as unknown as [string, EnvVar['kind'], string, string | undefined, string | undefined];
  const args = rawArgs ? splitArgs(rawArgs) : [];
  const v: EnvVar = { name, file, kind };
  if (kind === 'int') {
    const [def, min, max] = args.map(evaluate);
    if (def !== undefined) v.default = String(def);
    if (min !== undefined && max !== undefined) v.accepts = `integer ${min}–${max}`;
  } else if (kind === 'bool') {
    v.default = args[0] === 'true' ? 'on' : args[0] === 'false' ? 'off' : undefined;
    v.accepts = '`1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`';
  } else if (kind === 'url') {
    const protocols = [...(args[0] ?? '').matchAll(/'([a-z]+):'/g)].map((p) => p[1]);
    v.accepts = `a URL (${protocols.join(', ')})`;
  }
  if (fallback !== undefined) v.default = `\`${fallback}\``;
  return v;
}

const KIND_RANK = { family: 0, str: 1, url: 2, bool: 3, int: 4 } as const;

/** Every variable src/config reads, in the order of SECTIONS, then of reading. */
export function scanEnv(root: string): EnvVar[] {
  const dir = path.join(root, 'src/config');
  const byName = new Map<string, EnvVar>();
  const keep = (v: EnvVar) => {
    const had = byName.get(v.name);
    // The same variable read twice (`DEV_SIGN_IN` as a string, then as a boolean): the typed read tells more.
    if (!had || KIND_RANK[v.kind] > KIND_RANK[had.kind]) byName.set(v.name, { ...v, default: v.default ?? had?.default });
  };
  const order = (f: string) => (f in SECTIONS ? Object.keys(SECTIONS).indexOf(f) : 100);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  for (const file of files) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    const found: [number, EnvVar][] = [];
    for (const m of text.matchAll(READ)) found.push([m.index, typedRead(m, file)]);
    for (const m of text.matchAll(PASSED)) found.push([m.index, { name: m[1]!, file, kind: 'str' }]);
    for (const m of text.matchAll(FAMILY)) found.push([m.index, { name: `${m[1]}*`, file, kind: 'family' }]);
    // In the order the file reads them, which groups related settings.
    for (const [, v] of found.sort((a, b) => a[0] - b[0])) keep(v);
  }
  return [...byName.values()];
}

export interface EnvRow extends EnvVar {
  section: string;
  label: string;
  text: string;
}

/** The variables with their descriptions; throws on a variable without one, or a description of nothing. */
export function describeEnv(root: string): EnvRow[] {
  const vars = scanEnv(root);
  const undescribed = vars.filter((v) => !DESCRIBED[v.name]).map((v) => v.name);
  if (undescribed.length) throw new Error(`api-doc: describe ${undescribed.join(', ')} in scripts/api-doc/env.ts`);
  const read = new Set(vars.map((v) => v.name));
  const stale = Object.keys(DESCRIBED).filter((n) => !read.has(n));
  if (stale.length) throw new Error(`api-doc: src/config no longer reads ${stale.join(', ')}; remove it from scripts/api-doc/env.ts`);
  return vars.map((v) => {
    const d = DESCRIBED[v.name]!;
    return {
      ...v,
      section: SECTIONS[v.file] ?? v.file,
      label: d.label ?? `\`${v.name}\``,
      text: d.text,
      accepts: d.accepts ?? v.accepts,
      default: d.default ?? v.default ?? 'unset',
    };
  });
}
