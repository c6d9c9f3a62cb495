import { ProblemSchema } from './common.js';
import { MessageSchema } from './messages.js';
import { ReadStateSchema } from './reads.js';
import { RoomSchema } from './rooms.js';

/**
 * The schemas other schemas reference by $id (MessageRef, RoomRef, ReadStateRef, errorResponses): a validator must
 * know them all, and the OpenAPI document lists them under components.
 */
export const SHARED_SCHEMAS = [ProblemSchema, MessageSchema, RoomSchema, ReadStateSchema];
