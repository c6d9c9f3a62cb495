import { expect, vi } from 'vitest';
import { SharedRead } from '../../src/batch-loader.js';

let opened: Array<() => void> = [];

/** Opens every gate still shut (for afterEach: a test that failed before it released must not hang the app's close). */
export function openGates(): void {
  for (const open of opened) open();
  opened = [];
}

/**
 * Spies on a repository's read (`proto[method]`, a prototype method): the first read answers only once the gate opens
 * (a read under way while other asks arrive), the later ones at once. `reads` counts them; `releaseAfter(n)` opens the
 * gate once the app's SharedReads were asked `n` times (every SharedRead's asks count, shared or not), so a test opens
 * it when every ask it made has arrived, however slowly they came.
 */
export function gateFirstRead<P extends object, M extends keyof P & string>(proto: P, method: M) {
  const read = proto[method] as (...args: unknown[]) => Promise<unknown>;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  opened.push(release);
  let first = true;
  // The spy's type is vitest's for any method; the mock keeps the method's own arguments and answer.
  const reads = vi.spyOn(proto as Record<string, (...args: unknown[]) => Promise<unknown>>, method).mockImplementation(async function (
    this: unknown,
    ...args: unknown[]
  ) {
    const found = await read.apply(this, args);
    if (first) {
      first = false;
      await gate;
    }
    return found;
  });
  const asks = vi.spyOn(SharedRead.prototype, 'get');
  /** Releases the first read once `n` asks have arrived. */
  const releaseAfter = async (n: number) => {
    try {
      await vi.waitFor(() => expect(asks.mock.calls.length).toBeGreaterThanOrEqual(n), { timeout: 10_000, interval: 5 });
    } finally {
      release();
    }
  };
  return { reads, releaseAfter };
}

/** A page's messages that carry the caller's own reactions, as "content emoji". */
export const meOf = (page: any): string[] =>
  page.data.flatMap((m: any) => m.reactions.filter((r: any) => r.me).map((r: any) => `${m.content} ${r.emoji}`)).sort();

/** A page with every `reactions[].me` false: what callers share apart from their own reactions. */
export const withoutMe = (page: any): any => ({
  ...page,
  data: page.data.map((m: any) => ({ ...m, reactions: m.reactions.map((r: any) => ({ ...r, me: false })) })),
});
