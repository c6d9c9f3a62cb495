/**
 * What the service's parts need of a logger: pino's (Fastify's) in the app, any object shaped alike in tests. The one
 * logger type; a part that needs fewer levels asks for `Pick<Log, …>`, so a test can hand it a small stub.
 */
export interface Log {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
