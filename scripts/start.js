// `npm start`: the compiled service (dist/) when the build is at least as new as every source file, the TypeScript
// sources through tsx otherwise. Compiled, the service is ready in well under half the time (no transpiling, no
// loader hooks on every import); through tsx, an edit to src/ shows without a build. `npm install` builds (prepare).
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const stamp = path.join(root, 'dist', '.build-stamp');

/** The newest modification time of any file under `dir`. */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const at = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(at) : statSync(at).mtimeMs);
  }
  return latest;
}

const current = existsSync(stamp) && newest(path.join(root, 'src')) <= statSync(stamp).mtimeMs;
if (current) {
  await import(pathToFileURL(path.join(root, 'dist', 'server', 'main.js')).href);
} else {
  process.stderr.write(
    `${existsSync(stamp) ? 'src/ changed since the last build' : 'no build yet'}: running the TypeScript sources through tsx (npm run build makes the start faster)\n`,
  );
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(path.join(root, 'src', 'main.ts')).href);
}
