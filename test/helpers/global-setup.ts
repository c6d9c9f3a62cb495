import type { TestProject } from 'vitest/node';
import { dropTemplate, prepareTemplate, type Template } from './databases.js';

declare module 'vitest' {
  export interface ProvidedContext {
    template: Template;
  }
}

/** Once per project (engine): build the migrated template that each test file copies. */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const template = await prepareTemplate(project.name === 'postgres' ? 'postgres' : 'pglite');
  project.provide('template', template);
  return () => dropTemplate(template);
}
