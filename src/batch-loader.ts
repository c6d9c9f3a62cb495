import { AsyncResource } from 'node:async_hooks';

/**
 * Joins lookups (or writes) of the same kind into one statement. A burst of connections (a deploy, a network blip)
 * asks the same question hundreds of times within milliseconds; one `where … = any(…)` answers many of them. The
 * first ask of a quiet moment waits only for the end of its tick; asks that come while a statement is in flight wait
 * for it to finish and then go together in the next one (as group commit does for sends).
 */
export class BatchLoader<K, V> {
  private queued = new Set<K>();
  private next: Promise<Map<K, V>> | undefined;
  private running: Promise<unknown> | undefined;
  private readonly loadMany: (keys: K[]) => Promise<Map<K, V>>;

  constructor(loadMany: (keys: K[]) => Promise<Map<K, V>>) {
    // A batch answers many callers, so it runs where the loader was made, not in its first caller's async context: a
    // read scoped to a replica (db/replicas.ts) must not take the other callers' lookups there with it.
    this.loadMany = AsyncResource.bind(loadMany);
  }

  /** The values of these keys (absent when there is none). */
  async get(keys: Iterable<K>): Promise<Map<K, V>> {
    for (const key of keys) this.queued.add(key);
    this.next ??= (this.running ?? new Promise<void>((resolve) => setImmediate(resolve))).then(() => {
      const batch = [...this.queued];
      this.queued = new Set();
      this.next = undefined;
      const load = this.loadMany(batch);
      const settled = load.then(
        () => {},
        () => {},
      );
      this.running = settled;
      void settled.then(() => {
        if (this.running === settled) this.running = undefined;
      });
      return load;
    });
    return this.next;
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
  private readonly keys = new Map<K, { running?: Promise<void>; next?: Promise<V> }>();
  private readonly read: (key: K) => Promise<V>;

  constructor(read: (key: K) => Promise<V>) {
    // As in BatchLoader: a read answers many callers, so it runs in the context the reader was made in.
    this.read = AsyncResource.bind(read);
  }

  get(key: K): Promise<V> {
    let state = this.keys.get(key);
    if (!state) this.keys.set(key, (state = {}));
    const s = state;
    s.next ??= (s.running ?? new Promise<void>((resolve) => setImmediate(resolve))).then(() => {
      s.next = undefined;
      const read = this.read(key);
      const settled = read.then(
        () => {},
        () => {},
      );
      s.running = settled;
      void settled.then(() => {
        if (s.running !== settled) return;
        s.running = undefined;
        // Nothing waits for this key any more: forgotten, so the map holds only the keys being read.
        if (!s.next) this.keys.delete(key);
      });
      return read;
    });
    return s.next;
  }

  /** Keys with a read under way or asked for (for tests: nothing is kept once the reads are done). */
  get size(): number {
    return this.keys.size;
  }
}
