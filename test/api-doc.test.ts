import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { OUTPUT, ROOT, renderApiDoc, type OpenApiDocument } from '../scripts/api-doc.js';
import { API_PREFIX } from '../src/app.js';
import { ERROR_CATALOGUE } from '../src/contract/errors.js';
import { ClientEventSchemas, ServerEventSchemas } from '../src/contract/events.js';
import { request, startTestApp } from './helpers/app.js';

/** The first line where two texts part, to point at what changed. */
function firstDifference(expected: string, actual: string): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  const i = a.findIndex((line, n) => line !== b[n]);
  const at = i === -1 ? a.length : i;
  return `line ${at + 1}:\n  generated: ${a[at] ?? '(end of file)'}\n  docs/api.md: ${b[at] ?? '(end of file)'}`;
}

/** Every setting src/config reads by name, as test/docs-env.test.ts finds them. */
function settingsRead(): string[] {
  const dir = path.join(ROOT, 'src/config');
  const names = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    for (const m of text.matchAll(/\bread\.\w+\(\s*'([A-Z][A-Z0-9_]+)'/g)) names.add(m[1]!);
  }
  return [...names].sort();
}

// The reference does not depend on the engine: it is checked once, in the PGlite project.
const here = inject('template').kind === 'pglite';

describe.runIf(here)('docs/api.md', () => {
  let docs: string;
  /** What a running service serves at /docs/json, independently of the generator's own build. */
  let served: OpenApiDocument;

  beforeAll(async () => {
    docs = readFileSync(OUTPUT, 'utf8');
    const t = await startTestApp();
    try {
      served = (await request(t.baseUrl, '/docs/json')).body as OpenApiDocument;
    } finally {
      await t.close();
    }
  });

  it('is exactly what npm run docs:api generates from the code', async () => {
    // From the document the service serves (the generator builds the same app on its own; sparing a second build here
    // keeps the test fast, and the default configuration is the same for both).
    const fresh = await renderApiDoc(served);
    expect(fresh === docs, `docs/api.md is out of date: run npm run docs:api\n${firstDifference(fresh, docs)}`).toBe(true);
  });

  it('describes every operation of the OpenAPI document the service serves', () => {
    const operations = Object.entries(served.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${p.startsWith(API_PREFIX + '/') ? p.slice(API_PREFIX.length) : p}`),
    );
    // The service has dozens of operations; a handful would mean the document came back empty or broken.
    expect(operations.length).toBeGreaterThan(40);
    expect(operations.filter((op) => !docs.includes(`#### \`${op}\``))).toEqual([]);
    for (const name of Object.keys(served.components?.schemas ?? {})) expect(docs).toContain(`### ${name}\n`);
  });

  it('describes every socket event of the typed event map, both ways', () => {
    const events = [...Object.keys(ClientEventSchemas), ...Object.keys(ServerEventSchemas)];
    expect(events).toEqual(expect.arrayContaining(['send_message', 'new_message', 'suspended']));
    expect(events.filter((e) => !docs.includes(`#### \`${e}\``))).toEqual([]);
  });

  it('lists every error code with its HTTP status', () => {
    const missing = Object.entries(ERROR_CATALOGUE)
      .filter(([code, { status }]) => !docs.includes(`| \`${code}\` | ${status} |`))
      .map(([code]) => code);
    expect(missing).toEqual([]);
  });

  it('lists every environment variable the configuration reads', () => {
    const names = settingsRead();
    expect(names).toEqual(expect.arrayContaining(['DATABASE_URL', 'JWT_SECRET', 'WEBHOOK_TIMEOUT_MS']));
    expect(names.filter((n) => !docs.includes(`| \`${n}\` |`))).toEqual([]);
  });
});
