import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

/** Every setting the configuration reads by name (src/config is the one place that reads the environment). */
function settingsRead(): string[] {
  const dir = join(root, 'src/config');
  const names = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const m of text.matchAll(/\bread\.\w+\(\s*'([A-Z][A-Z0-9_]+)'/g)) names.add(m[1]!);
  }
  return [...names].sort();
}

describe('the README', () => {
  it('documents every environment variable the configuration reads', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const names = settingsRead();
    // The scan itself must see the settings, or this test would pass on nothing.
    expect(names).toEqual(expect.arrayContaining(['DATABASE_URL', 'JWT_SECRET', 'WEBHOOK_TIMEOUT_MS', 'ADMIN_JOB_PAUSE_MS']));
    expect(names.filter((n) => !readme.includes(`\`${n}\``))).toEqual([]);
  });
});
