/**
 * `npm run migrate [-- --repartition]`: apply pending migrations to DATABASE_URL (or the embedded database) and exit.
 * `--repartition` lets DATABASE_PARTITIONS reshape a chat_message that already holds messages (every instance stopped).
 */
import { loadConfig } from '../config.js';
import { openConfigured } from './open.js';
import { PartitionsMismatch } from './partitions.js';

const config = loadConfig();
const repartition = process.argv.includes('--repartition');
const database = await openConfigured(config);
try {
  await database.migrate({
    partitions: config.databasePartitions,
    repartition,
    log: (message) => process.stdout.write(`${message}\n`),
  });
  process.stdout.write(`migrations applied (${database.kind}, chat_message in ${config.databasePartitions} partition(s))\n`);
} catch (err) {
  if (!(err instanceof PartitionsMismatch)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
} finally {
  await database.close();
}
