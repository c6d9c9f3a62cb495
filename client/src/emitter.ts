type Listener = (...args: never[]) => void;

/** A small event emitter that runs in Node and browsers alike. */
export class Emitter<Events extends Record<string, Listener>> {
  private readonly listeners = new Map<keyof Events, Set<Listener>>();

  on<E extends keyof Events>(event: E, fn: Events[E]): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  off<E extends keyof Events>(event: E, fn: Events[E]): void {
    this.listeners.get(event)?.delete(fn);
  }

  protected emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) {
      try {
        (fn as (...a: Parameters<Events[E]>) => void)(...args);
      } catch {
        // A listener's failure is the listener's: the client's state must not depend on it.
      }
    }
  }

  protected removeAllListeners(): void {
    this.listeners.clear();
  }
}
