import { setTimeout as sleep } from 'node:timers/promises';

/** The REST prefix every call goes under (the contract's). */
const API = '/api/v1/chat';

export class SeedError extends Error {
  override name = 'SeedError';
}

/**
 * One demo user's REST calls, with their token. A 429 (the user's write budget, or a busy search) is waited out as
 * Retry-After says and retried, so a large seed slows down instead of failing; any other refusal stops the seed with the
 * service's own words.
 */
export class UserApi {
  /** Writes that reached the service (retries of a 429 not counted): what a second run must bring to zero. */
  writes = 0;

  constructor(
    private readonly baseUrl: string,
    readonly userId: string,
    private readonly token: string,
  ) {}

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const form = body instanceof FormData;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(this.baseUrl + API + path, {
          method,
          headers: {
            authorization: `Bearer ${this.token}`,
            ...(body !== undefined && !form ? { 'content-type': 'application/json' } : {}),
          },
          ...(body !== undefined ? { body: form ? body : JSON.stringify(body) } : {}),
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
        throw new SeedError(
          `cannot reach the service at ${this.baseUrl} (${cause}). Start it first (npm start in another terminal), or set SEED_URL.`,
        );
      }
      if (res.status === 429 && attempt < 10) {
        await res.body?.cancel();
        const wait = Number(res.headers.get('retry-after') ?? '1');
        await sleep(Math.max(1, Number.isFinite(wait) ? wait : 1) * 1000);
        continue;
      }
      if (method !== 'GET') this.writes++;
      const text = await res.text();
      if (res.ok) return (text ? JSON.parse(text) : undefined) as T;
      let detail = text;
      try {
        const problem = JSON.parse(text) as { code?: string; detail?: string };
        detail = `${problem.code ?? ''} ${problem.detail ?? ''}`.trim();
      } catch {
        // not a problem document: the raw text says it
      }
      if (res.status === 401)
        throw new SeedError(
          `the service refused ${this.userId}'s token (${detail}). The seed signs tokens as npm run token does: run it with the ` +
            'same JWT_SECRET (or DATA_DIR, whose generated secret the service uses) as the service.',
        );
      throw new SeedError(`${method} ${path} as ${this.userId}: ${res.status} ${detail}`);
    }
  }
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
