/** `npm run migrate`: apply pending migrations to DATABASE_URL (or the embedded database) and exit. */
import { loadConfig } from '../config.js';
import { openConfigured } from './open.js';

const config = loadConfig();
const database = await openConfigured(config);
try {
  await database.migrate();
  process.stdout.write(`migrations applied (${database.kind})\n`);
} finally {
  await database.close();
}
