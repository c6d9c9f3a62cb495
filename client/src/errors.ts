/**
 * What the SDK rejects with: the server's problem `code` (VALIDATION_FAILED, FORBIDDEN, NOT_FOUND, …) and HTTP status,
 * or a code of the SDK's own: `CLOSED` (the client was closed), `NETWORK` (no answer, being retried), `TIMEOUT`.
 */
export class ChatError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = 'ChatError';
  }
}

/** A refusal is final: retrying the same request cannot succeed (a 4xx other than 429). */
export const isRefusal = (err: unknown): err is ChatError =>
  err instanceof ChatError && err.status !== undefined && err.status >= 400 && err.status < 500 && err.status !== 429;
