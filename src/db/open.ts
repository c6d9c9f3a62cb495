import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Log } from '../log.js';
import { openDatabase, type Database } from './client.js';
import { closedOnTheWay, findBinaries, serverAccount } from './embedded/binaries.js';
import { startEmbeddedPostgres } from './embedded/postgres-server.js';

export interface DatabaseSettings {
  databaseUrl: string | undefined;
  embeddedEngine: 'postgres' | 'pglite' | undefined;
  databasePooler?: 'none' | 'pgbouncer';
  dataDir: string;
}

/** The engine a start uses, and why, for the start log and the README's "which database" section. */
export interface EngineChoice {
  engine: 'postgres-url' | 'memory' | 'embedded-postgres' | 'pglite';
  reason: string;
}

export function chooseEngine(s: DatabaseSettings): EngineChoice {
  if (s.databaseUrl === 'memory://') return { engine: 'memory', reason: 'DATABASE_URL=memory://' };
  if (s.databaseUrl) return { engine: 'postgres-url', reason: 'DATABASE_URL' };
  if (s.embeddedEngine === 'pglite') return { engine: 'pglite', reason: 'EMBEDDED_ENGINE=pglite' };
  if (s.embeddedEngine === 'postgres') return { engine: 'embedded-postgres', reason: 'EMBEDDED_ENGINE=postgres' };
  // A data directory made before the default changed holds a PGlite database; switching engines would hide its data.
  if (existsSync(path.join(s.dataDir, 'db', 'PG_VERSION')) && !existsSync(path.join(s.dataDir, 'pg', 'PG_VERSION'))) {
    return { engine: 'pglite', reason: `${s.dataDir}/db holds a PGlite database` };
  }
  const binaries = findBinaries();
  if ('missing' in binaries) return { engine: 'pglite', reason: binaries.missing };
  // Run by root, the server runs as a `postgres` user, which must reach DATA_DIR (DATA_DIR itself it is let into).
  const account = serverAccount();
  const closed = account && closedOnTheWay(path.dirname(path.resolve(s.dataDir)), account);
  if (closed) return { engine: 'pglite', reason: `the server's user "${account.name}" cannot enter ${closed}` };
  return { engine: 'embedded-postgres', reason: 'default' };
}

/** Opens (not yet migrated) the database the settings name: a URL, memory, or the embedded engine under DATA_DIR. */
export async function openConfigured(s: DatabaseSettings, log?: Pick<Log, 'info' | 'warn' | 'error'>): Promise<Database> {
  const choice = chooseEngine(s);
  log?.info({ engine: choice.engine, reason: choice.reason }, 'database engine');
  switch (choice.engine) {
    case 'memory':
      return openDatabase({ url: s.databaseUrl });
    case 'postgres-url':
      return openDatabase({ url: s.databaseUrl, pooler: s.databasePooler });
    case 'pglite':
      return openDatabase({ dataDir: path.join(s.dataDir, 'db'), pgliteWorker: true });
    case 'embedded-postgres': {
      const binaries = findBinaries(serverAccount());
      if ('missing' in binaries) throw new Error(`EMBEDDED_ENGINE=postgres: ${binaries.missing}`);
      const server = await startEmbeddedPostgres({ dir: path.join(s.dataDir, 'pg'), binaries, log });
      try {
        return await openDatabase({ connection: server.connection, afterClose: () => server.stop() });
      } catch (err) {
        await server.stop();
        throw err;
      }
    }
  }
}
