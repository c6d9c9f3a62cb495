import path from 'node:path';
import { scanEnv } from '../../scripts/api-doc/env.js';

/**
 * Every setting the configuration reads by name (src/config is the one place that reads the environment), sorted:
 * the same scan that writes docs/api.md's table, so a test and the reference never disagree on what exists.
 */
export function settingsRead(): string[] {
  const names = scanEnv(path.join(import.meta.dirname, '..', '..'))
    .filter((v) => v.kind !== 'family')
    .map((v) => v.name);
  return [...new Set(names)].sort();
}
