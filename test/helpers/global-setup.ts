import type { TestProject } from 'vitest/node';
import { dropTemplates, prepareTemplates } from './databases.js';

/** Once per project (engine): build the migrated template that each test file copies. */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const kind = project.name === 'postgres' ? 'postgres' : 'pglite';
  await prepareTemplates(kind);
  return () => dropTemplates(kind);
}
