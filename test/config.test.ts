import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'chat-config-'));
const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('config', () => {
  it('gives working defaults with no variables, generating a development secret into DATA_DIR', () => {
    const dir = tmp();
    const config = loadConfig({ DATA_DIR: dir });
    expect(config.port).toBe(3000);
    expect(config.host).toBe('0.0.0.0');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.publicUrl).toBe('http://localhost:3000');
    expect(config.media).toEqual({ storage: 'local', maxFileBytes: 26214400, maxFiles: 10, maxPixels: 100000000, urlTtlS: 3600 });
    expect(config.notify.coalesceMs).toBe(2000);
    expect(config.corsOrigins).toBe('*');
    expect(config.jwt.generated).toBe(true);
    expect(config.jwt.secret).toBe(readFileSync(path.join(dir, 'jwt-secret'), 'utf8').trim());
    // The same secret on the next start, so tokens survive restarts.
    expect(loadConfig({ DATA_DIR: dir }).jwt.secret).toBe(config.jwt.secret);
  });

  it('refuses to start in production without a JWT key, and allows no CORS origin by default there', () => {
    expect(problems({ NODE_ENV: 'production', DATA_DIR: tmp() }).join()).toMatch(/JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL/);
    const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), DATA_DIR: tmp() });
    expect(config.corsOrigins).toBe(false);
    expect(config.jwt.generated).toBe(false);
  });

  it('names every bad variable at once', () => {
    const found = problems({
      DATA_DIR: tmp(),
      PORT: 'abc',
      DATABASE_URL: 'mysql://x',
      MEDIA_STORAGE: 'ftp',
      LOG_LEVEL: 'loud',
      JWT_SECRET: 'short',
      MEDIA_MAX_FILES: '0',
    });
    expect(found).toHaveLength(6);
    for (const name of ['PORT', 'DATABASE_URL', 'MEDIA_STORAGE', 'LOG_LEVEL', 'JWT_SECRET', 'MEDIA_MAX_FILES']) {
      expect(found.some((p) => p.startsWith(name))).toBe(true);
    }
  });

  it('reads lists and URLs', () => {
    const config = loadConfig({
      DATA_DIR: tmp(),
      JWT_SECRET: 'y'.repeat(40),
      CORS_ORIGINS: 'https://a.example, https://b.example',
      PUBLIC_URL: 'https://chat.example/',
      DATABASE_URL: 'postgres://u@db/chat',
      REDIS_URL: 'redis://cache:6379',
    });
    expect(config.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.publicUrl).toBe('https://chat.example');
    expect(config.databaseUrl).toBe('postgres://u@db/chat');
    expect(config.redisUrl).toBe('redis://cache:6379');
    expect(problems({ DATA_DIR: tmp(), REDIS_URL: 'http://cache' })).toHaveLength(1);
  });
});
