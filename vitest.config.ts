import { defineConfig } from 'vitest/config';

// The whole suite runs on the embedded database (PGlite), and again on PostgreSQL when TEST_DATABASE_URL is set.
const engines = ['pglite', ...(process.env['TEST_DATABASE_URL'] ? ['postgres'] : [])];

export default defineConfig({
  test: {
    projects: engines.map((engine) => ({
      test: {
        name: engine,
        include: ['test/**/*.test.ts'],
        globalSetup: ['test/helpers/global-setup.ts'],
        testTimeout: 20_000,
        hookTimeout: 60_000,
        pool: 'forks',
      },
    })),
  },
});
