import { pino, type DestinationStream } from 'pino';
import type { Config } from './config.js';

export type LogFormat = 'json' | 'pretty';

/**
 * JSON lines are what log collectors read; a person at a terminal reads pretty lines. So: pretty only on a terminal
 * outside production, unless LOG_FORMAT says otherwise.
 */
export function chooseLogFormat(given: LogFormat | undefined, where: { isTTY: boolean; production: boolean }): LogFormat {
  if (given) return given;
  return where.isTTY && !where.production ? 'pretty' : 'json';
}

/**
 * Where the service's loggers write: undefined for JSON (pino's own synchronous stdout), or pino-pretty in a worker
 * thread. The worker is pino's recommended way to transform logs: the event loop only serialises the JSON line it
 * would write anyway and hands it over, while the parsing, colouring and writing happen on another thread. pino-pretty
 * as an in-process stream would do all that on the event loop for every line. Pending lines are flushed at exit.
 */
export function logDestination(
  config: Pick<Config, 'logFormat' | 'env'>,
  stdout: { isTTY?: boolean } = process.stdout,
): DestinationStream | undefined {
  const format = chooseLogFormat(config.logFormat, { isTTY: stdout.isTTY === true, production: config.env === 'production' });
  if (format === 'json') return undefined;
  return pino.transport({
    target: 'pino-pretty',
    // Colours follow the terminal (pino-pretty checks it); the pid and host name say nothing on a developer's machine.
    options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
  });
}
