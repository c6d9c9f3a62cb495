import { assertAdmin } from '../auth/admin.js';
import type { AuthContext } from '../auth/tokens.js';
import { forbidden, invalid } from '../errors.js';
import { decodeCursor, encodeCursor } from '../ids.js';
import type { Log } from '../log.js';
import type { SuspendedEvent, SuspendInput, SuspensionsInput, SuspensionsPageView, SuspensionView } from '../contract/suspensions.js';
import type { SuspensionKey, SuspensionRow, SuspensionsRepository } from './suspensions.repository.js';

/** Told of every suspension made or lifted on this instance (null: lifted), after it is stored. */
export type SuspensionListener = (userId: string, suspension: SuspensionView | null) => void;

interface InForce {
  /** Epoch ms; null: until lifted. */
  until: number | null;
  view: SuspensionView;
}

const toView = (row: SuspensionRow): SuspensionView => ({
  userId: row.userId,
  until: row.until ? row.until.toISOString() : null,
  reason: row.reason,
  createdAt: row.createdAt.toISOString(),
  createdBy: row.createdBy,
});

const untilText = (s: InForce): string => (s.until === null ? 'suspended until lifted' : `suspended until ${s.view.until}`);

/**
 * Suspensions. Every write of a user (REST and socket alike) asks `assertCanWrite`, which reads memory only: the
 * table is tiny (only suspensions in force are kept in memory), loaded at start, changed at once on the instance that
 * changes it, and reloaded when another instance signals a change (`refresh`) and every `refreshMs` in case a signal
 * was lost. Expiry needs no job: a suspension whose `until` has passed stops counting when it is compared.
 */
export class SuspensionsService {
  private inForce = new Map<string, InForce>();
  /** Bumped by each change made here: a reload that began before it may have read the old state, and is not applied. */
  private generation = 0;
  private loading: Promise<void> | undefined;
  private reloadAgain = false;
  private timer: NodeJS.Timeout | undefined;
  private listeners = new Set<SuspensionListener>();
  private log: Pick<Log, 'error'> | undefined;

  constructor(
    private readonly repo: SuspensionsRepository,
    private readonly refreshMs: number,
  ) {}

  async start(log: Pick<Log, 'error'>): Promise<void> {
    this.log = log;
    await this.refresh();
    if (this.refreshMs > 0) {
      this.timer = setInterval(() => void this.refresh(), this.refreshMs);
      this.timer.unref();
    }
  }

  /** Stops the periodic reload (signals from other instances stop with the sockets, which stop first). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.loading;
  }

  onChange(listener: SuspensionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The one check of every user write: FORBIDDEN, saying until when, while the user is suspended. No I/O. */
  assertCanWrite(userId: string): void {
    const s = this.current(userId);
    if (s) throw forbidden(untilText(s));
  }

  /** What a suspended user's sockets are told (null when not suspended). */
  suspendedEvent(userId: string): SuspendedEvent | null {
    const s = this.current(userId);
    return s ? { until: s.view.until, reason: s.view.reason } : null;
  }

  async suspend(auth: AuthContext, userId: string, input: SuspendInput): Promise<SuspensionView> {
    assertAdmin(auth);
    // An admin suspended by their own hand could not lift it: every write, this one's undoing too, would be refused.
    if (userId === auth.userId) throw invalid('you cannot suspend yourself', '/userId');
    const reason = checkedReason(input.reason, '/reason');
    const until = checkedUntil(input.until, '/until');
    const view = toView(await this.repo.put({ userId, until, reason, createdBy: auth.userId }));
    this.apply(userId, view);
    return view;
  }

  /** Idempotent. The other instances are told even when this one knew of nothing: its memory may be the stale one. */
  async lift(auth: AuthContext, userId: string): Promise<void> {
    assertAdmin(auth);
    await this.repo.remove(userId);
    this.apply(userId, null);
  }

  async list(auth: AuthContext, q: SuspensionsInput): Promise<SuspensionsPageView> {
    assertAdmin(auth);
    const after = q.cursor === undefined ? null : decodeCursor<SuspensionKey>(q.cursor, { at: 'time', userId: 'string' });
    if (after === null && q.cursor !== undefined) throw invalid('cursor is not valid', '/cursor');
    const limit = q.limit ?? 50;
    const rows = await this.repo.list(after, limit + 1);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      data: page.map(toView),
      nextCursor: rows.length > limit && last ? encodeCursor({ at: last.createdAt.getTime(), userId: last.userId }) : null,
    };
  }

  /**
   * Reloads the suspensions in force from the database (another instance changed them, or the periodic check). One
   * reload at a time; asked for during one, it runs again after it, since the one under way may have read too early.
   */
  refresh(): Promise<void> {
    if (this.loading) {
      this.reloadAgain = true;
      return this.loading;
    }
    const run = async (): Promise<void> => {
      do {
        this.reloadAgain = false;
        const generation = this.generation;
        try {
          const rows = await this.repo.active();
          if (generation !== this.generation) {
            this.reloadAgain = true;
            continue;
          }
          this.inForce = new Map(rows.map((r) => [r.userId, { until: r.until?.getTime() ?? null, view: toView(r) }]));
        } catch (err) {
          // The last state read stays in force; the next reload tries again.
          this.log?.error({ err }, 'suspensions reload failed');
          return;
        }
      } while (this.reloadAgain);
    };
    this.loading = run().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private current(userId: string): InForce | undefined {
    const s = this.inForce.get(userId);
    return s && (s.until === null || s.until > Date.now()) ? s : undefined;
  }

  private apply(userId: string, view: SuspensionView | null): void {
    this.generation += 1;
    if (view) this.inForce.set(userId, { until: view.until === null ? null : Date.parse(view.until), view });
    else this.inForce.delete(userId);
    for (const listener of this.listeners) {
      try {
        listener(userId, view);
      } catch (err) {
        this.log?.error({ err }, 'suspension listener failed');
      }
    }
  }
}

/** A suspension's reason: as given, but not only spaces. */
export function checkedReason(reason: string, path: string): string {
  if (reason.trim() === '') throw invalid('reason must not be blank', path);
  return reason;
}

/** An end in the future, or null (until lifted). */
export function checkedUntil(until: string | null | undefined, path: string): Date | null {
  if (until === undefined || until === null) return null;
  const at = new Date(until);
  if (at.getTime() <= Date.now()) throw invalid('until must be in the future', path);
  return at;
}
