import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, inject, it } from 'vitest';

const root = path.join(import.meta.dirname, '..');

// Files and links do not depend on the database: one run is enough.
const here = inject('template').kind === 'pglite';

/** The pages a reader follows links through: the README, the changelog and everything under docs/. */
function pages(): string[] {
  const found = ['README.md', 'CHANGELOG.md'].filter((f) => existsSync(path.join(root, f)));
  const walk = (dir: string): void => {
    for (const name of readdirSync(path.join(root, dir)).sort()) {
      const rel = path.join(dir, name);
      if (statSync(path.join(root, rel)).isDirectory()) walk(rel);
      else if (name.endsWith('.md')) found.push(rel);
    }
  };
  walk('docs');
  return found;
}

/** The text outside fenced code blocks (blank lines in their place, so line numbers stay). */
function withoutFences(markdown: string): string {
  let fence: string | null = null;
  return markdown
    .split('\n')
    .map((line) => {
      const open = /^ {0,3}(`{3,}|~{3,})/.exec(line);
      if (fence) {
        if (open && open[1]!.startsWith(fence)) fence = null;
        return '';
      }
      if (open) fence = open[1]!;
      return open ? '' : line;
    })
    .join('\n');
}

/** The text as rendered prose: code blocks and code spans blanked, so a link written as an example is not a link. */
function prose(markdown: string): string {
  return withoutFences(markdown).replace(/(`+)[^`]*?\1/g, (span) => ' '.repeat(span.length));
}

/** Every link and image target: inline `[text](target "title")`, reference definitions, and HTML src/href. */
function linksOf(markdown: string): string[] {
  const text = prose(markdown);
  const targets: string[] = [];
  for (const m of text.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1]!);
  for (const m of text.matchAll(/^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/gm)) targets.push(m[1]!);
  for (const m of text.matchAll(/<(?:a|img)\s[^>]*?(?:href|src)\s*=\s*"([^"]*)"/gi)) targets.push(m[1]!);
  return targets.map((t) => t.replace(/^<|>$/g, ''));
}

/** GitHub's anchor of a heading: lower case, punctuation and symbols dropped, spaces as hyphens. */
function slug(heading: string): string {
  const rendered = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link shows its text
    .replace(/<[^>]+>/g, '') // HTML tags show nothing
    .replace(/`/g, '');
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors a page offers: its headings (repeats get -1, -2 … as on GitHub) and explicit HTML ids or names. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutFences(markdown).split('\n')) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const base = slug(heading[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<[a-z]+\s[^>]*?(?:id|name)\s*=\s*"([^"]+)"/gi)) anchors.add(m[1]!);
  }
  return anchors;
}

/** What is wrong with each relative link of one page: a missing file, or an anchor no heading of the target has. */
function brokenLinks(page: string, markdown: string, read: (file: string) => string | null): string[] {
  const broken: string[] = [];
  for (const target of linksOf(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // another site, mailto:
    const [rawPath, anchor] = target.split('#', 2) as [string, string | undefined];
    const file = rawPath === '' ? page : path.normalize(path.join(path.dirname(page), decodeURIComponent(rawPath)));
    if (file.startsWith('..') || path.isAbsolute(file)) {
      broken.push(`${target}: outside the repository`);
      continue;
    }
    const text = read(file);
    if (text === null) {
      broken.push(`${target}: ${file} does not exist`);
      continue;
    }
    if (anchor && file.endsWith('.md') && !anchorsOf(text).has(decodeURIComponent(anchor))) {
      broken.push(`${target}: ${file} has no heading #${anchor}`);
    }
  }
  return broken;
}

/** A file's text ('' for a directory, which GitHub shows as a listing), or null when nothing is there. */
function readInRepo(file: string): string | null {
  const full = path.join(root, file);
  if (!existsSync(full)) return null;
  return statSync(full).isDirectory() ? '' : readFileSync(full, 'utf8');
}

describe.runIf(here)('links in the README and docs/', () => {
  it('finds links, images and anchors the way GitHub renders them', () => {
    const sample = [
      '# Erase under load (measured)',
      '## What stands in the way now (profile: [`a.txt`](x/a.txt))',
      '## Setup',
      '## Setup',
      'See [the API](docs/api.md#rooms "title"), ![shot](docs/s.png) and [web](https://example.com).',
      '`[not a link](nowhere.md)`',
      '```',
      '[nor this](nowhere.md)',
      '```',
      '[ref]: CHANGELOG.md',
      '<img src="docs/logo.svg">',
    ].join('\n');
    expect(linksOf(sample)).toEqual(['x/a.txt', 'docs/api.md#rooms', 'docs/s.png', 'https://example.com', 'CHANGELOG.md', 'docs/logo.svg']);
    expect([...anchorsOf(sample)]).toEqual(['erase-under-load-measured', 'what-stands-in-the-way-now-profile-atxt', 'setup', 'setup-1']);
    expect(slug('`npm run` scripts — every one')).toBe('npm-run-scripts--every-one');
  });

  it('reports a missing file, a missing anchor and a path out of the repository', () => {
    const page = '[ok](a.md#here) [gone](b.md) [no anchor](a.md#there) [self](#nowhere) [up](../../etc/passwd)';
    const files: Record<string, string> = { 'docs/a.md': '# Here\n', 'docs/x.md': page };
    const read = (f: string) => files[f] ?? null;
    expect(brokenLinks('docs/x.md', page, read)).toEqual([
      'b.md: docs/b.md does not exist',
      'a.md#there: docs/a.md has no heading #there',
      '#nowhere: docs/x.md has no heading #nowhere',
      '../../etc/passwd: outside the repository',
    ]);
  });

  it('every relative link and image resolves, and every #anchor names a heading of its page', () => {
    const checked = pages();
    // The scan must see the pages it is meant to check, or this test would pass on nothing.
    expect(checked).toEqual(expect.arrayContaining(['README.md', 'docs/architecture.md', 'docs/sdk.md']));
    const broken = checked.flatMap((page) => {
      const text = readFileSync(path.join(root, page), 'utf8');
      return brokenLinks(page, text, (file) => (file === page ? text : readInRepo(file))).map((b) => `${page}: ${b}`);
    });
    expect(broken).toEqual([]);
  });
});

describe.runIf(here)('the README', () => {
  it('has an SDK example that type-checks against the SDK, as a newcomer would paste it', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const example = /^## From code\n[\s\S]*?^```ts\n([\s\S]*?)^```/m.exec(readme)?.[1];
    expect(example).toContain("from 'chat-service/client'");
    const dir = mkdtempSync(path.join(tmpdir(), 'readme-example-'));
    try {
      // An .mts file: an ES module, so the example's top-level awaits are allowed, as in the user's own module.
      const file = path.join(dir, 'example.mts');
      // `process` alone from Node: the SDK compiles without Node's types (client/tsconfig.json), and the check stays small.
      writeFileSync(file, `declare const process: { env: Record<string, string | undefined> };\n${example!}`);
      const program = ts.createProgram([file], {
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
        types: [],
        // What `import 'chat-service/client'` resolves to inside the checkout, from its sources.
        paths: { 'chat-service/client': [path.join(root, 'client/src/index.ts')] },
      });
      const diagnostics = ts
        .getPreEmitDiagnostics(program)
        .map((d) => `${d.file ? path.basename(d.file.fileName) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
      expect(diagnostics).toEqual([]);
      expect(program.getSourceFiles().map((f) => path.relative(root, f.fileName))).toContain(path.join('client', 'src', 'client.ts'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
