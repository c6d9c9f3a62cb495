import type { TestProject } from 'vitest/node';
import { dropTemplate, prepareTemplate, type Template } from './databases.js';

declare module 'vitest' {
  export interface ProvidedContext {
    template: Template;
  }
}

/**
 * Once per project (engine): build the migrated template that each test file copies. `postgres-partitioned` runs the
 * message suites again on a chat_message in 4 hash partitions (DATABASE_PARTITIONS).
 */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const template = await prepareTemplate(
    project.name.startsWith('postgres') ? 'postgres' : 'pglite',
    project.name === 'postgres-partitioned' ? 4 : 1,
  );
  project.provide('template', template);
  return () => dropTemplate(template);
}
