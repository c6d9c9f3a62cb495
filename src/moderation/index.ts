import type { Feature } from '../feature.js';
import { blocksRoutes } from './blocks.routes.js';
import type { BlocksService } from './blocks.service.js';

export { BlocksRepository } from './blocks.repository.js';
export { BlocksService } from './blocks.service.js';
export { ReportsRepository } from './reports.repository.js';
export { reportsFeature } from './reports.routes.js';
export { ReportsService, adminReportView } from './reports.service.js';
export { SuspensionsRepository } from './suspensions.repository.js';
export { suspendedWrites, documentSuspendedWrites, suspensionsFeature } from './suspensions.routes.js';
export { SuspensionsService, type SuspensionListener } from './suspensions.service.js';

export function blocksFeature(blocks: BlocksService): Feature {
  return { name: 'blocks', routes: (api) => api.register(blocksRoutes, { blocks }) };
}
