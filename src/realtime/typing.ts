import type { RedisClient } from '../redis.js';
import type { TypingEvent } from '../contract/events.js';

/** Who is typing where, until when: in memory for one process, in Redis when instances share rooms. */
export interface TypingStore {
  /** true: announce isTyping (a new start, or a renewal after the throttle window). */
  start(key: string, expiresAt: number, throttleMs: number): Promise<boolean>;
  /** true: was typing, announce the stop. */
  stop(key: string): Promise<boolean>;
  /** Starts that were not renewed in time; each is returned to exactly one caller. */
  expired(now: number): Promise<string[]>;
}

export class MemoryTypingStore implements TypingStore {
  private readonly typing = new Map<string, { expiresAt: number; announcedAt: number }>();

  async start(key: string, expiresAt: number, throttleMs: number): Promise<boolean> {
    const now = Date.now();
    const current = this.typing.get(key);
    const announce = !current || now - current.announcedAt >= throttleMs;
    this.typing.set(key, { expiresAt, announcedAt: announce ? now : current.announcedAt });
    return announce;
  }

  async stop(key: string): Promise<boolean> {
    return this.typing.delete(key);
  }

  async expired(now: number): Promise<string[]> {
    const out: string[] = [];
    for (const [key, t] of this.typing) {
      if (t.expiresAt > now) continue;
      this.typing.delete(key);
      out.push(key);
    }
    return out;
  }
}

const START = `
local added = redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if added == 1 then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return 1
end
if redis.call('SET', KEYS[2], '1', 'PX', ARGV[3], 'NX') then return 1 end
return 0`;

const EXPIRED = `
local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
local out = {}
for _, k in ipairs(keys) do
  if redis.call('ZREM', KEYS[1], k) == 1 then table.insert(out, k) end
end
return out`;

export class RedisTypingStore implements TypingStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  // START touches the set and an announcement key together: one hash tag keeps them in one Redis Cluster slot.
  private get zset(): string {
    return `{${this.prefix}:typing}`;
  }

  private announced(key: string): string {
    return `{${this.prefix}:typing}:announced:${key}`;
  }

  async start(key: string, expiresAt: number, throttleMs: number): Promise<boolean> {
    return (await this.redis.eval(START, 2, this.zset, this.announced(key), key, expiresAt, throttleMs)) === 1;
  }

  async stop(key: string): Promise<boolean> {
    const [removed] = await Promise.all([this.redis.zrem(this.zset, key), this.redis.del(this.announced(key))]);
    return removed === 1;
  }

  async expired(now: number): Promise<string[]> {
    return (await this.redis.eval(EXPIRED, 1, this.zset, now)) as string[];
  }
}

/**
 * Typing state, announced through `announce`. A start is announced once and renewed silently; only a renewal after
 * half the timeout re-announces it, so a client repeating typing_start cannot flood the room. A start not renewed
 * within the timeout ends with isTyping: false (a sweep finds it, on whichever instance is alive), as does the
 * typist's socket going away.
 */
export class TypingTracker {
  /** Keys each local socket started: what to stop when it goes away. */
  private readonly bySocket = new Map<string, Set<string>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly store: TypingStore,
    private readonly timeoutMs: number,
    private readonly announce: (event: TypingEvent) => void,
    private readonly onError: (err: unknown) => void,
  ) {
    this.sweeper = setInterval(() => void this.sweep().catch(onError), Math.min(250, Math.max(25, Math.floor(timeoutMs / 4))));
    this.sweeper.unref();
  }

  async start(userId: string, chatRoomId: string, socketId: string): Promise<void> {
    const key = `${chatRoomId}\n${userId}`;
    let keys = this.bySocket.get(socketId);
    if (!keys) this.bySocket.set(socketId, (keys = new Set()));
    keys.add(key);
    if (await this.store.start(key, Date.now() + this.timeoutMs, this.timeoutMs / 2)) this.announce({ chatRoomId, userId, isTyping: true });
  }

  async stop(userId: string, chatRoomId: string): Promise<void> {
    const key = `${chatRoomId}\n${userId}`;
    for (const keys of this.bySocket.values()) keys.delete(key);
    if (await this.store.stop(key)) this.announce({ chatRoomId, userId, isTyping: false });
  }

  /** The socket went away: whatever it was typing stops. */
  socketGone(socketId: string): void {
    const keys = this.bySocket.get(socketId);
    this.bySocket.delete(socketId);
    for (const key of keys ?? []) {
      const [chatRoomId, userId] = key.split('\n') as [string, string];
      this.stop(userId, chatRoomId).catch(this.onError);
    }
  }

  private async sweep(): Promise<void> {
    for (const key of await this.store.expired(Date.now())) {
      const [chatRoomId, userId] = key.split('\n') as [string, string];
      for (const keys of this.bySocket.values()) keys.delete(key);
      this.announce({ chatRoomId, userId, isTyping: false });
    }
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}

/** Typing state in memory for one process, or in Redis (keys under `prefix`) when instances share rooms. */
export function createTypingStore(redis: RedisClient | undefined, prefix: string): TypingStore {
  return redis ? new RedisTypingStore(redis, prefix) : new MemoryTypingStore();
}
