import type { FastifyInstance } from 'fastify';
import type { EventBus } from './events.js';
import type { Log } from './log.js';

/**
 * One part of the service as the composition root sees it. app.ts lists the parts in one order: routes are registered
 * and parts started in that order, and stopped in the reverse order, each after its bus subscriptions are undone.
 */
export interface Feature {
  name: string;
  /** Routes under the API prefix, behind authentication and the write budget. */
  routes?(api: FastifyInstance): PromiseLike<unknown>;
  /** Routes outside the API prefix, which authenticate by other means (signed media URLs). */
  publicRoutes?(http: FastifyInstance): PromiseLike<unknown>;
  /** Subscribes to domain events before anything starts; returns what undoes it. */
  subscribers?(bus: EventBus): () => void;
  /** After the routes are ready, before the server listens. */
  start?(log: Log): Promise<void> | void;
  stop?(): Promise<void> | void;
}
