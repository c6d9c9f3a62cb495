import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { settingsRead } from './helpers/settings.js';

const root = join(import.meta.dirname, '..');

// Files only, no database: one run is enough.
const here = inject('template').kind === 'pglite';

describe.runIf(here)('the README', () => {
  it('documents every environment variable the configuration reads', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const names = settingsRead();
    // The scan itself must see the settings, or this test would pass on nothing.
    expect(names).toEqual(expect.arrayContaining(['DATABASE_URL', 'JWT_SECRET', 'WEBHOOK_TIMEOUT_MS', 'ADMIN_JOB_PAUSE_MS']));
    expect(names.filter((n) => !readme.includes(`\`${n}\``))).toEqual([]);
  });

  it('describes every npm script', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const scripts = Object.keys((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: object }).scripts);
    const section = readme.slice(readme.indexOf('## npm scripts'));
    // First column of the table: one or more `name`s, with the description after it.
    const described = new Set<string>();
    for (const row of section.matchAll(/^\| ([^|]+) \| \S[^|]* \|$/gm)) {
      for (const name of row[1]!.matchAll(/`([^`]+)`/g)) described.add(name[1]!);
    }
    expect(scripts).toEqual(expect.arrayContaining(['start', 'test', 'build']));
    expect(scripts.filter((name) => !described.has(name))).toEqual([]);
  });
});
