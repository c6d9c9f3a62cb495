import type { Server as HttpServer } from 'node:http';
import type { Db } from '../db/client.js';
import type { Feature } from '../feature.js';
import { RealtimeRepository } from './realtime.repository.js';
import { startRealtime, type Realtime, type RealtimeDeps } from './realtime.module.js';

export type { ChatNamespace } from './gateway.js';
export type { Realtime, RealtimeDeps } from './realtime.module.js';
export { createTypingStore, type TypingStore } from './typing.js';

export interface RealtimeFeature extends Feature {
  /** The Socket.IO server and the /chat namespace, once started. */
  running(): Realtime;
}

/**
 * Socket.IO on the HTTP server, started after the routes are ready (it reads through the services) and stopped before
 * the HTTP server closes: the sends under way on sockets are answered first.
 */
export function realtimeFeature(httpServer: HttpServer, db: Db, deps: Omit<RealtimeDeps, 'repo' | 'log'>): RealtimeFeature {
  let realtime: Realtime | undefined;
  return {
    name: 'realtime',
    start(log) {
      realtime = startRealtime(httpServer, { ...deps, repo: new RealtimeRepository(db), log });
    },
    async stop() {
      await realtime?.close();
    },
    running() {
      if (!realtime) throw new Error('realtime has not started');
      return realtime;
    },
  };
}
