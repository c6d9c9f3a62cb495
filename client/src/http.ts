import { canReportProgress, fetchWithProgress } from './xhr.js';
import { ChatError } from './errors.js';

/** A token, or a function that gets a fresh one (asked again before it expires and after UNAUTHORIZED). */
export type TokenSource = string | (() => Promise<string> | string);

/** Seconds before `exp` at which a token from a function is asked for again. */
const REFRESH_AHEAD_S = 30;

/** A JWT's claims, read without verifying it (the service verifies); {} for anything that is not a JWT. */
export function claimsOf(token: string): { sub?: unknown; exp?: unknown; [claim: string]: unknown } {
  try {
    const binary = atob((token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/'));
    // The payload is UTF-8: a user id or name beyond ASCII must come out as written, not byte by byte.
    const json = new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    const claims = JSON.parse(json) as unknown;
    return typeof claims === 'object' && claims !== null ? (claims as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The user a token is for (its `sub`); UNAUTHORIZED for a token that names nobody. */
export function subjectOf(token: string): string {
  const { sub } = claimsOf(token);
  if (typeof sub === 'string') return sub;
  throw new ChatError('UNAUTHORIZED', 'the token is not a JWT with a sub');
}

function expiresAt(token: string): number | undefined {
  const { exp } = claimsOf(token);
  return typeof exp === 'number' ? exp * 1000 : undefined;
}

/** Hands out the current token; a function source is asked once at a time, ahead of expiry, and when forced. */
export class Tokens {
  private current: string | undefined;
  private asking: Promise<string> | undefined;

  constructor(private readonly source: TokenSource) {}

  get(force = false): Promise<string> {
    if (typeof this.source === 'string') return Promise.resolve(this.source);
    const exp = this.current === undefined ? undefined : expiresAt(this.current);
    const fresh = this.current !== undefined && (exp === undefined || exp - Date.now() > REFRESH_AHEAD_S * 1000);
    if (fresh && !force) return Promise.resolve(this.current!);
    const source = this.source;
    this.asking ??= Promise.resolve()
      .then(() => source())
      .then((token) => {
        if (typeof token !== 'string' || token === '') throw new ChatError('UNAUTHORIZED', 'the token function gave no token');
        this.current = token;
        return token;
      })
      .finally(() => (this.asking = undefined));
    return this.asking;
  }
}

/** Pauses between retries, all cut short (resolved at once) by `clear()`: a closed client leaves no timer behind. */
export class Waits {
  private readonly pending = new Map<ReturnType<typeof setTimeout>, () => void>();
  cleared = false;

  wait(ms: number): Promise<void> {
    if (this.cleared) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        resolve();
      }, ms);
      this.pending.set(timer, resolve);
    });
  }

  clear(): void {
    this.cleared = true;
    for (const [timer, resolve] of this.pending) {
      clearTimeout(timer);
      resolve();
    }
    this.pending.clear();
  }
}

/** Exponential backoff with full jitter: 250 ms doubling, at most 5 s. */
export const backoff = (attempt: number) => Math.random() * Math.min(5000, 250 * 2 ** attempt);

export interface RequestOptions {
  body?: unknown;
  /** multipart uploads: sent as is, with the browser's/undici's own content type. */
  form?: FormData;
  /** Keep retrying network failures, 503 and 429 (sends): until `closed`. Otherwise a few attempts. */
  persistent?: boolean;
  /** Upload progress (0–1) of a multipart request, where the platform can tell it (browsers). */
  onProgress?: (fraction: number) => void;
}

/** REST under /api/v1/chat: problem+json becomes ChatError; 401 asks for a fresh token once; 503/429/network retried. */
export class Rest {
  closed = false;
  readonly waits = new Waits();
  /** Aborted when the connection comes back: requests stuck on the network that went away are retried at once. */
  private stalled = new AbortController();

  constructor(
    private readonly baseUrl: string,
    private readonly tokens: Tokens,
    private readonly fetchFn: typeof fetch = (...args) => fetch(...args),
  ) {}

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<{ status: number; body: T }> {
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new ChatError('CLOSED', 'the client is closed');
      let res: Response;
      const epoch = this.stalled.signal;
      try {
        res = await this.send(method, path, opts, await this.tokens.get(), epoch);
      } catch (err) {
        if (err instanceof ChatError) throw err;
        if (epoch.aborted) {
          attempt = -1;
          continue;
        }
        if (!opts.persistent && attempt >= 4) throw new ChatError('NETWORK', `${method} ${path}: no answer (${String(err)})`);
        await this.waits.wait(backoff(attempt));
        continue;
      }
      if (res.status === 401 && !refreshed) {
        refreshed = true;
        await this.tokens.get(true);
        continue;
      }
      if (res.status === 503 || res.status === 429 || res.status === 502 || res.status === 504) {
        if (!opts.persistent && attempt >= 4) throw await problem(res);
        const retryAfter = Number(res.headers.get('retry-after'));
        await this.waits.wait(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : backoff(attempt));
        continue;
      }
      if (!res.ok) throw await problem(res);
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
    }
  }

  /** Stops: requests under way end with CLOSED, and no retry waits on. */
  close(): void {
    this.closed = true;
    this.waits.clear();
    this.stalled.abort();
  }

  /** The network is back (the socket reconnected): what hangs on the old one is given up and sent again. */
  retryStalled(): void {
    this.stalled.abort();
    this.stalled = new AbortController();
  }

  private send(method: string, path: string, opts: RequestOptions, token: string, epoch: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    let body: string | FormData | undefined;
    if (opts.form) body = opts.form;
    else if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    // A connection that hangs (a network that went away without a word) is given up and retried.
    const signal = AbortSignal.any([AbortSignal.timeout(opts.form ? 120_000 : 15_000), epoch]);
    const url = `${this.baseUrl}/api/v1/chat${path}`;
    const init: RequestInit = { method, headers, signal, ...(body !== undefined ? { body } : {}) };
    if (opts.form && opts.onProgress && canReportProgress()) return fetchWithProgress(url, init, opts.onProgress);
    return this.fetchFn(url, init);
  }
}

/** The service's catalogue, for an answer without a problem body (a proxy's, say). */
const CODE_OF_STATUS: Record<number, string> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

async function problem(res: Response): Promise<ChatError> {
  let body: { code?: string; detail?: string; title?: string; errors?: unknown } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // Not problem+json (a proxy's page): the status says enough.
  }
  const code = body.code ?? CODE_OF_STATUS[res.status] ?? `HTTP_${res.status}`;
  return new ChatError(code, body.detail ?? body.title ?? res.statusText, res.status, body.errors);
}
