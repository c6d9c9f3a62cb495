import type { FastifyBaseLogger } from 'fastify';

/**
 * Schema compiles that can wait. Building every route's validators and response serializers took about a second of
 * a start (ajv and fast-json-stringify generate code per schema): each is now built on its first use, and the rest in
 * the background once the app listens, one per turn of the event loop, so requests that arrive meanwhile are not
 * held up behind them. The service answers sooner, and every route is compiled within moments of its start.
 */
export class DeferredCompiles {
  private readonly pending = new Set<() => unknown>();
  private warming = false;
  private stopped = false;

  /** A getter for what `build` makes: built once, by the first caller or by warm(). */
  lazy<T>(build: () => T): () => T {
    let built: { value: T } | undefined;
    const get = (): T => {
      if (!built) {
        built = { value: build() };
        this.pending.delete(get);
      }
      return built.value;
    };
    this.pending.add(get);
    return get;
  }

  /** Builds what is still pending, one per event-loop turn, until done or stopped. A failure is left to the first use. */
  warm(log: Pick<FastifyBaseLogger, 'error'>): void {
    if (this.warming) return;
    this.warming = true;
    const next = (): void => {
      const first = this.pending.values().next();
      if (this.stopped || first.done) {
        this.warming = false;
        return;
      }
      try {
        first.value();
      } catch (err) {
        this.pending.delete(first.value);
        log.error({ err }, 'compiling a schema failed');
      }
      setImmediate(next);
    };
    setImmediate(next);
  }

  stop(): void {
    this.stopped = true;
  }

  /** How many are not built yet (tests). */
  get size(): number {
    return this.pending.size;
  }
}
