import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** Every setting the configuration reads by name (src/config is the one place that reads the environment), sorted. */
export function settingsRead(): string[] {
  const dir = path.join(import.meta.dirname, '..', '..', 'src', 'config');
  const names = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    for (const m of text.matchAll(/\bread\.\w+\(\s*'([A-Z][A-Z0-9_]+)'/g)) names.add(m[1]!);
  }
  return [...names].sort();
}
