import { useCallback, useRef, useState } from 'react';
import { ChatError } from 'chat-service/client';

/** What a failed call says to a person: the service's own words, or that the network is gone. */
export function errorText(err: unknown): string {
  if (err instanceof ChatError && err.code === 'NETWORK') return 'No connection: try again when you are back online.';
  return err instanceof ChatError ? err.message : String((err as Error).message ?? err);
}

export interface PageOf<T> {
  data: T[];
  nextCursor: string | null;
}

/**
 * A keyset-paged list (search results, the support queue): the first page replaces, a next page appends (without
 * repeating what is held), and only the latest request lands — typing or switching fires several, answers may cross.
 */
export function usePages<T>(idOf: (item: T) => string, initial: { items: T[]; next: string | null } = { items: [], next: null }) {
  const [items, setItems] = useState<T[]>(initial.items);
  const [next, setNext] = useState<string | null>(initial.next);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const latest = useRef(0);

  /** Resolves true when this answer is the one shown (not overtaken by a later call, not failed). */
  const load = useCallback(
    async (fetchPage: () => Promise<PageOf<T>>, appending: boolean): Promise<boolean> => {
      const ticket = ++latest.current;
      setBusy(true);
      setError(null);
      try {
        const page = await fetchPage();
        if (ticket !== latest.current) return false;
        setItems((held) => {
          if (!appending) return page.data;
          const seen = new Set(held.map(idOf));
          return held.concat(page.data.filter((item) => !seen.has(idOf(item))));
        });
        setNext(page.nextCursor);
        return true;
      } catch (err) {
        if (ticket === latest.current) setError(errorText(err));
        return false;
      } finally {
        if (ticket === latest.current) setBusy(false);
      }
    },
    [idOf],
  );

  /** Empty, and any request under way is ignored when it answers. */
  const clear = useCallback(() => {
    ++latest.current;
    setItems([]);
    setNext(null);
    setError(null);
    setBusy(false);
  }, []);

  return { items, next, busy, error, setError, load, clear };
}
