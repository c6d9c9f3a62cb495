import { spawn } from 'node:child_process';
import { once, type EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { chooseLogFormat, logDestination } from '../src/log-format.js';
import { startService, type ServiceProcess } from './helpers/process.js';

const dirs: string[] = [];
const tmp = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-log-'));
  dirs.push(dir);
  return dir;
};

const isJsonObject = (line: string): boolean => {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
};

// Logging does not depend on the database engine: once, in the PGlite project.
const here = inject('template').kind === 'pglite';

describe.runIf(here)('log format', () => {
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it.each([
    // LOG_FORMAT, stdout is a terminal, production → format
    [undefined, true, false, 'pretty'],
    [undefined, true, true, 'json'],
    [undefined, false, false, 'json'],
    [undefined, false, true, 'json'],
    ['json', true, false, 'json'],
    ['json', false, true, 'json'],
    ['pretty', false, false, 'pretty'],
    ['pretty', false, true, 'pretty'],
  ] as const)('LOG_FORMAT=%s, terminal %s, production %s: %s', (given, isTTY, production, expected) => {
    expect(chooseLogFormat(given, { isTTY, production })).toBe(expected);
  });

  it('reads LOG_FORMAT and refuses any other value, naming it', () => {
    expect(loadConfig({ DATA_DIR: tmp() }).logFormat).toBeUndefined();
    expect(loadConfig({ DATA_DIR: tmp(), LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(loadConfig({ DATA_DIR: tmp(), LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(() => loadConfig({ DATA_DIR: tmp(), LOG_FORMAT: 'xml' })).toThrow(ConfigError);
    expect(() => loadConfig({ DATA_DIR: tmp(), LOG_FORMAT: 'xml' })).toThrow('LOG_FORMAT must be json or pretty (got "xml")');
  });

  it('writes through a pino-pretty worker only on a terminal outside production', async () => {
    expect(logDestination({ logFormat: undefined, env: 'production' }, { isTTY: true })).toBeUndefined();
    expect(logDestination({ logFormat: undefined, env: 'development' }, { isTTY: false })).toBeUndefined();
    const pretty = logDestination({ logFormat: undefined, env: 'development' }, { isTTY: true }) as unknown as EventEmitter & {
      end(): void;
    };
    expect(pretty).toBeDefined();
    await once(pretty, 'ready'); // pino-pretty loaded in its worker
    pretty.end();
    await once(pretty, 'close');
  });

  describe('npm start', () => {
    let pretty: ServiceProcess;
    let json: ServiceProcess;
    const env = () => ({ DATABASE_URL: 'memory://', DATA_DIR: tmp() });

    beforeAll(async () => {
      // Both at once: each start is mostly waiting for PGlite to compile.
      [pretty, json] = await Promise.all([
        startService({ ...env(), LOG_FORMAT: 'pretty' }),
        startService({ ...env(), LOG_FORMAT: 'json' }),
      ]);
    }, 30_000);

    afterAll(async () => {
      await Promise.all([pretty?.child.exitCode === null && pretty.kill('SIGTERM'), json?.kill('SIGTERM')]);
    });

    it('LOG_FORMAT=pretty: readable lines, not JSON', async () => {
      expect((await fetch(`${pretty.url}/health`)).status).toBe(200);
      const lines = pretty.output().split('\n').filter(Boolean);
      expect(lines.filter(isJsonObject)).toEqual([]);
      expect(pretty.output()).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: Server listening at http:\/\/127\.0\.0\.1:\d+$/m);
      // Fields of an entry follow it, one a line.
      expect(pretty.output()).toMatch(/INFO: database engine\n\s+engine: "memory"/);
      // The worker thread's lines are not lost when the process exits.
      expect(await pretty.kill('SIGTERM')).toBe(0);
      expect(pretty.output()).toMatch(/INFO: shutting down\n\s+signal: "SIGTERM"/);
    });

    it('LOG_FORMAT=json: one JSON object a line', async () => {
      expect((await fetch(`${json.url}/health`)).status).toBe(200);
      const lines = json.output().split('\n').filter(Boolean);
      expect(lines.length).toBeGreaterThan(2);
      expect(lines.filter((l) => !isJsonObject(l))).toEqual([]);
      expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain('chat service ready');
    });
  });

  it('a bad LOG_FORMAT stops the start with a message naming it', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, LOG_FORMAT: 'yaml', DATA_DIR: tmp() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(err).toContain('LOG_FORMAT must be json or pretty (got "yaml")');
  });
});
