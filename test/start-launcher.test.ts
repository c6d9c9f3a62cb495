import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';

const repo = path.join(import.meta.dirname, '..');
// The launcher does not depend on the project's engine: once, in the PGlite project.
const here = inject('template').kind === 'pglite';

describe.runIf(here)('npm start (scripts/start.js)', () => {
  // A checkout in miniature: the launcher, a "source" main and a "compiled" one that say which ran.
  const root = mkdtempSync(path.join(tmpdir(), 'chat-launcher-'));
  mkdirSync(path.join(root, 'scripts'));
  mkdirSync(path.join(root, 'src', 'db'), { recursive: true });
  mkdirSync(path.join(root, 'dist', 'server'), { recursive: true });
  copyFileSync(path.join(repo, 'scripts', 'start.js'), path.join(root, 'scripts', 'start.js'));
  writeFileSync(path.join(root, 'package.json'), '{"type":"module"}');
  symlinkSync(path.join(repo, 'node_modules'), path.join(root, 'node_modules'));
  writeFileSync(path.join(root, 'src', 'main.ts'), "const from: string = 'sources';\nconsole.log(`ran ${from}`);\n");
  writeFileSync(path.join(root, 'src', 'db', 'schema.ts'), 'export {};\n');
  writeFileSync(path.join(root, 'dist', 'server', 'main.js'), "console.log('ran dist');\n");
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const run = () => {
    const out = execFileSync(process.execPath, [path.join(root, 'scripts', 'start.js')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return out.trim();
  };
  const at = (file: string, seconds: number) => utimesSync(file, seconds, seconds);
  const stamp = path.join(root, 'dist', '.build-stamp');

  it('runs the sources through tsx before any build', () => {
    expect(run()).toBe('ran sources');
  });

  it('runs the compiled service when the build is newer than every source file', () => {
    writeFileSync(stamp, '');
    at(path.join(root, 'src', 'main.ts'), 1_000_000);
    at(path.join(root, 'src', 'db', 'schema.ts'), 1_000_000);
    at(stamp, 2_000_000);
    expect(run()).toBe('ran dist');
  });

  it('goes back to the sources once any file under src/ is newer than the build, nested ones too', () => {
    at(path.join(root, 'src', 'db', 'schema.ts'), 3_000_000);
    expect(run()).toBe('ran sources');
  });
});
