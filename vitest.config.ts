import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// The whole suite runs on the embedded database (PGlite), and again on PostgreSQL when TEST_DATABASE_URL is set.
const engines = ['pglite', ...(process.env['TEST_DATABASE_URL'] ? ['postgres'] : [])];
// The suites that read and write messages run a third time on PostgreSQL with chat_message in hash partitions
// (DATABASE_PARTITIONS=4): every message query must give the same answers on either shape.
const partitioned = [
  'messages',
  'history',
  'message-edits',
  'message-deletes',
  'reactions',
  'pins',
  'search',
  'reads',
  'changes-log',
  'change-index',
  'media-messages',
  'reports',
  'admin-purge',
  'admin-erase',
  'retention',
].map((name) => `test/${name}.test.ts`);

export default defineConfig({
  test: {
    // Most files wait on sockets, timers and servers rather than compute: two at a time even on 2 cores (vitest's
    // default there is one) took the suite from 23 to 14 minutes here, all green.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      ...engines.map((engine) => ({ name: engine, include: ['test/**/*.test.ts'] })),
      ...(process.env['TEST_DATABASE_URL'] ? [{ name: 'postgres-partitioned', include: partitioned }] : []),
    ].map((project) => ({
      test: {
        ...project,
        globalSetup: ['test/helpers/global-setup.ts'],
        testTimeout: 20_000,
        hookTimeout: 60_000,
        pool: 'forks' as const,
      },
    })),
  },
});
