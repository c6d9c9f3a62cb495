/**
 * Joins the lookups (or writes) asked for within one tick into one statement. A burst of connections (a deploy, a
 * network blip) asks the same kind of question hundreds of times at once; one `where … = any(…)` answers them all.
 */
export class BatchLoader<K, V> {
  private keys = new Set<K>();
  private load: Promise<Map<K, V>> | undefined;

  constructor(private readonly loadMany: (keys: K[]) => Promise<Map<K, V>>) {}

  /** The values of these keys (absent when there is none), from the query of this tick. */
  async get(keys: Iterable<K>): Promise<Map<K, V>> {
    for (const key of keys) this.keys.add(key);
    this.load ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const batch = [...this.keys];
      this.keys = new Set();
      this.load = undefined;
      return this.loadMany(batch);
    });
    return this.load;
  }

  async one(key: K): Promise<V | undefined> {
    return (await this.get([key])).get(key);
  }
}
