import type { RedisClient } from '../redis.js';

/** `16/B374D848` (pg_lsn as text) → a number that orders as WAL positions do. */
export function parseLsn(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

/**
 * Per user, the primary's WAL position after their last write. A fence only has to outlive the replicas' allowed lag:
 * once it is older than that, every replica still read from has replayed past it.
 */
export interface FenceStore {
  get(userId: string): Promise<bigint | undefined>;
  /** Keeps the higher of the stored fence and `lsn` (writes of one user on two instances may finish in any order). */
  raise(userId: string, lsn: bigint, ttlMs: number): Promise<void>;
}

export function memoryFences(): FenceStore {
  const fences = new Map<string, { lsn: bigint; until: number }>();
  let nextSweep = 0;
  return {
    async get(userId) {
      const f = fences.get(userId);
      if (!f || f.until >= Date.now()) return f?.lsn;
      fences.delete(userId);
      return undefined;
    },
    async raise(userId, lsn, ttlMs) {
      const now = Date.now();
      // Expired entries leave as they are met, and once per fence lifetime all at once, so the map stays at the users
      // who wrote lately without a write paying for a walk over all of them each time.
      if (now >= nextSweep) {
        for (const [k, v] of fences) if (v.until < now) fences.delete(k);
        nextSweep = now + ttlMs;
      }
      const f = fences.get(userId);
      if (!f || f.until < now || f.lsn < lsn) fences.set(userId, { lsn, until: now + ttlMs });
    },
  };
}

// Fixed-width hex compares as strings in the order of the positions; a higher one replaces the stored one.
const RAISE = `local cur = redis.call('GET', KEYS[1])
if (not cur) or cur < ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1`;

export function redisFences(redis: RedisClient, prefix: string): FenceStore {
  const key = (userId: string) => `${prefix}:fence:${userId}`;
  return {
    async get(userId) {
      const v = await redis.get(key(userId));
      return v ? BigInt(`0x${v}`) : undefined;
    },
    async raise(userId, lsn, ttlMs) {
      await redis.eval(RAISE, 1, key(userId), lsn.toString(16).padStart(16, '0'), String(ttlMs));
    },
  };
}

const MAX_LSN = (1n << 64n) - 1n;

/** The fences of one deployment, with the primary position read after each write. */
export class LsnFences {
  private running: Promise<bigint> | undefined;
  private queued: Promise<bigint> | undefined;

  constructor(
    private readonly store: FenceStore,
    private readonly head: () => Promise<bigint>,
    private readonly ttlMs: number,
  ) {}

  of(userId: string): Promise<bigint | undefined> {
    return this.store.get(userId);
  }

  async raise(userId: string): Promise<void> {
    // Without the primary's position, the highest one there is: the user reads from the primary until it expires.
    const lsn = await this.positionNow().catch(() => MAX_LSN);
    await this.store.raise(userId, lsn, this.ttlMs);
  }

  /**
   * A primary position read after this call: it is at or past every commit that finished before. Calls during a read
   * share the next one (the running one may have started before their commit), so a burst of writes costs two queries.
   */
  private positionNow(): Promise<bigint> {
    if (!this.running) return this.start();
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    return this.queued;
  }

  private start(): Promise<bigint> {
    const p = this.head().finally(() => {
      if (this.running === p) this.running = undefined;
    });
    this.running = p;
    return p;
  }
}
