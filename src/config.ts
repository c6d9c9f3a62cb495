import { devSignInConfig, jwtConfig, type JwtConfig } from './config/auth.js';
import { databaseConfig, type DatabaseConfig } from './config/database.js';
import { limitsConfig, type LimitsConfig } from './config/limits.js';
import { mediaConfig, type MediaConfig } from './config/media.js';
import { notifyConfig, type NotifyConfig } from './config/notify.js';
import { envReader, type Env } from './config/readers.js';
import { realtimeConfig, type RealtimeConfig } from './config/realtime.js';
import { adminJobsConfig, retentionConfig, type AdminJobsConfig, type RetentionConfig } from './config/retention.js';
import { serverConfig, type ServerConfig } from './config/server.js';
import { webhooksConfig, type WebhooksConfig } from './config/webhooks.js';

export type { MediaCloudinaryConfig, MediaS3Config } from './config/media.js';
export type { NotifyConfig, VapidConfig } from './config/notify.js';

/**
 * Every setting, read and validated once at start. A bad value stops the start with a message naming the
 * variable; nothing else in the code reads process.env. Each section is read (with its defaults and bounds) in
 * src/config/<section>.ts.
 */
export interface Config extends ServerConfig, DatabaseConfig, LimitsConfig {
  jwt: JwtConfig;
  /** POST /dev/token is served (DEV_SIGN_IN; see config/auth.ts). */
  devSignIn: boolean;
  media: MediaConfig;
  notify: NotifyConfig;
  realtime: RealtimeConfig;
  /** Message retention (RETENTION_DAYS…): old messages become tombstones in the background. */
  retention: RetentionConfig;
  /** Background admin jobs (erasing a user). */
  adminJobs: AdminJobsConfig;
  webhooks: WebhooksConfig;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads every section, then throws once with every problem found, so a start names all the bad variables at once. */
export function loadConfig(env: Env = process.env): Config {
  const read = envReader(env);
  const server = serverConfig(read);
  const basics = { production: server.env === 'production', dataDir: server.dataDir };
  const jwt = jwtConfig(read, basics);
  const config: Config = {
    ...server,
    ...databaseConfig(read),
    jwt,
    devSignIn: devSignInConfig(read, basics, jwt),
    media: mediaConfig(read, basics, jwt.secret),
    notify: notifyConfig(read, basics),
    ...limitsConfig(read),
    realtime: realtimeConfig(read),
    retention: retentionConfig(read),
    adminJobs: adminJobsConfig(read),
    webhooks: webhooksConfig(read),
  };
  if (read.problems.length) throw new ConfigError(read.problems);
  return config;
}
