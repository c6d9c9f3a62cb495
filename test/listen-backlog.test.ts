import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { TEST_JWT_SECRET } from './helpers/app.js';
import { startService } from './helpers/process.js';

const SOMAXCONN = '/proc/sys/net/core/somaxconn';
// What the service asks of the kernel does not depend on the database: once, in the PGlite project, where `ss` exists.
const here = inject('template').kind === 'pglite' && existsSync(SOMAXCONN) && existsSync('/usr/bin/ss');

describe.runIf(here)('listening socket', () => {
  it('has the accept queue the kernel allows, not Node’s 511: a reconnect storm is not dropped', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'chat-backlog-'));
    const svc = await startService({ DATA_DIR: dir, EMBEDDED_ENGINE: 'pglite', JWT_SECRET: TEST_JWT_SECRET });
    try {
      const port = new URL(svc.url).port;
      // ss prints a listening socket's accept queue size as its Send-Q: "LISTEN 0 4096 127.0.0.1:port ...".
      const line = execFileSync('/usr/bin/ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim();
      const backlog = Number(line.split(/\s+/)[2]);
      expect(backlog).toBe(Number(readFileSync(SOMAXCONN, 'utf8').trim()));
      expect(backlog).toBeGreaterThan(511);
    } finally {
      await svc.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
