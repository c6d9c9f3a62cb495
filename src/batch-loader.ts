import { AsyncResource } from 'node:async_hooks';

/**
 * Joins lookups (or writes) of the same kind into one statement. A burst of connections (a deploy, a network blip)
 * asks the same question hundreds of times within milliseconds; one `where … = any(…)` answers many of them. The
 * first ask of a quiet moment waits only for the end of its tick; asks that come while a statement is in flight wait
 * for it to finish and then go together in the next one (as group commit does for sends).
 */
export class BatchLoader<K, V> {
  private queued = new Set<K>();
  private readonly turn: Turn<Map<K, V>> = {};
  private readonly loadMany: (keys: K[]) => Promise<Map<K, V>>;

  constructor(loadMany: (keys: K[]) => Promise<Map<K, V>>) {
    // A batch answers many callers, so it runs where the loader was made, not in its first caller's async context: a
    // read scoped to a replica (db/replicas.ts) must not take the other callers' lookups there with it.
    this.loadMany = AsyncResource.bind(loadMany);
  }

  /** The values of these keys (absent when there is none). */
  async get(keys: Iterable<K>): Promise<Map<K, V>> {
    for (const key of keys) this.queued.add(key);
    return nextTurn(this.turn, () => {
      const batch = [...this.queued];
      this.queued = new Set();
      return this.loadMany(batch);
    });
  }

  async one(key: K): Promise<V | undefined> {
    return (await this.get([key])).get(key);
  }
}

/**
 * One read per key for the asks that come together, as BatchLoader joins lookups: asks for the same key in one tick
 * share a read, and asks that come while that key's read is under way share the next one, so a read always began
 * after every ask it answers (a caller sees their own writes). Different keys never wait for each other.
 */
export class SharedRead<K, V> {
  private readonly keys = new Map<K, Turn<V>>();
  // As in BatchLoader: a read answers many callers, so it runs in the context the reader was made in.
  private readonly scope = new AsyncResource('SharedRead');

  /** `read` reads the key (the asks of a key all read the same, so whichever ask's `read` runs answers them all). */
  get(key: K, read: () => Promise<V>): Promise<V> {
    let turn = this.keys.get(key);
    if (!turn) this.keys.set(key, (turn = {}));
    // Once nothing waits for the key it is forgotten: the map holds only the keys being read.
    return nextTurn(
      turn,
      () => this.scope.runInAsyncScope(read),
      () => this.keys.delete(key),
    );
  }

  /** Keys with a read under way or asked for (for tests: nothing is kept once the reads are done). */
  get size(): number {
    return this.keys.size;
  }
}

/** A job that never overlaps itself: the run under way, and the one asked for after it. */
interface Turn<T> {
  running?: Promise<void>;
  next?: Promise<T>;
}

/**
 * The job's next run: at the end of this tick when none is under way (so the asks of one tick share it), else right
 * after the one under way (so a run always began after every ask it answers). `idle` is told when a run ends and none
 * was asked for meanwhile.
 */
function nextTurn<T>(turn: Turn<T>, run: () => Promise<T>, idle?: () => void): Promise<T> {
  turn.next ??= (turn.running ?? new Promise<void>((resolve) => setImmediate(resolve))).then(() => {
    turn.next = undefined;
    const result = run();
    const settled = result.then(
      () => {},
      () => {},
    );
    turn.running = settled;
    void settled.then(() => {
      if (turn.running !== settled) return;
      turn.running = undefined;
      if (!turn.next) idle?.();
    });
    return result;
  });
  return turn.next;
}
