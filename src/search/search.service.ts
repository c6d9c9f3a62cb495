import type { ReadRouting } from '../db/replicas.js';
import type { AuthContext } from '../auth/tokens.js';
import { invalid } from '../errors.js';
import { decodeCursor, encodeCursor } from '../ids.js';
import type { MessagePresenter } from '../messages/messages.presenter.js';
import { type RoomAccessGuard } from '../rooms/rooms.access.js';
import { highlight } from './highlight.js';
import { compileQuery, infixTerms, MAX_INFIX_TERMS, MAX_TERMS, parseQuery } from './query.js';
import type { SearchLimits } from './search.limits.js';
import type { SearchRepository } from './search.repository.js';
import type { SearchInput, SearchPageView } from '../contract/search.js';

const DAY_MS = 86_400_000;
const LAST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const DATE_OR_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|([+-])(\d{2}):?(\d{2})?))?$/;

/**
 * An ISO date (a whole UTC day) or date-time (with its offset) as an instant. For `to`, a bare date means "through the
 * end of that day", i.e. before the next midnight. Undefined when the text is no real date (Feb 30th).
 */
export function parseBound(text: string, end: 'from' | 'to'): Date | undefined {
  const m = DATE_OR_TIME.exec(text);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = Date.UTC(y, mo - 1, d);
  const check = new Date(day);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) return undefined;
  // The day after 9999-12-31 is in year 10000, which JS writes as "+010000-…" and PostgreSQL cannot read.
  if (m[4] === undefined) return new Date(end === 'to' ? Math.min(day + DAY_MS, LAST_MS) : day);
  const [h, mi, s] = [Number(m[4]), Number(m[5]), Number(m[6])];
  if (h > 23 || mi > 59 || s > 60) return undefined;
  const ms = Number((m[7] ?? '0').padEnd(3, '0').slice(0, 3));
  const sign = m[9] === '-' ? -1 : 1;
  const offsetMin = m[9] === undefined ? 0 : sign * (Number(m[10]) * 60 + Number(m[11] ?? '0'));
  if (Math.abs(offsetMin) >= 24 * 60) return undefined;
  return new Date(day + ((h * 60 + mi - offsetMin) * 60 + s) * 1000 + ms);
}

export class SearchService {
  constructor(
    private readonly repo: SearchRepository,
    private readonly guard: RoomAccessGuard,
    private readonly presenter: MessagePresenter,
    private readonly replicas: Pick<ReadRouting, 'forUser'>,
  ) {}

  /** Validates first (a refused query costs no budget), then runs within `limits`: rate, concurrency, time. */
  async search(auth: AuthContext, q: SearchInput, limits: SearchLimits): Promise<SearchPageView> {
    const parsed = parseQuery(q.q);
    if (parsed.positive.length === 0) {
      throw invalid('q must contain at least one word to look for (letters or digits), not only exclusions or punctuation', '/q');
    }
    if (parsed.positive.length + parsed.negative.length > MAX_TERMS) throw invalid(`q may hold at most ${MAX_TERMS} terms`, '/q');
    if (infixTerms(parsed) > MAX_INFIX_TERMS) {
      throw invalid(
        `q may hold at most ${MAX_INFIX_TERMS} single CJK characters (each is looked for inside other words, which is ` +
          'costly); put "quotes" around characters that belong together to match them as one word',
        '/q',
      );
    }

    let beforeId: string | undefined;
    if (q.cursor !== undefined) {
      const c = decodeCursor<{ id: string }>(q.cursor, { id: 'id' });
      if (!c) throw invalid('cursor is not valid', '/cursor');
      beforeId = c.id;
    }
    const from = q.from === undefined ? undefined : parseBound(q.from, 'from');
    if (q.from !== undefined && !from) throw invalid('from must be an ISO date or date-time', '/from');
    const to = q.to === undefined ? undefined : parseBound(q.to, 'to');
    if (q.to !== undefined && !to) throw invalid('to must be an ISO date or date-time', '/to');

    const limit = q.limit ?? 20;
    const rows = await limits.run(auth.userId, async (statementTimeoutMs) => {
      if (q.chatRoomId !== undefined) {
        // Malformed, missing and not-a-member rooms all answer the same, so nobody learns which ids exist.
        await this.guard.member(auth, q.chatRoomId);
      }
      return this.replicas.forUser(auth.userId, () =>
        this.repo.search(
          {
            userId: auth.userId,
            ...compileQuery(parsed),
            roomId: q.chatRoomId,
            type: q.type,
            senderId: q.senderId,
            from,
            to,
            hasMedia: q.hasMedia,
            beforeId,
            limit: limit + 1,
          },
          statementTimeoutMs,
        ),
      );
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    // Highlights read the message as presented, never the row: what the presenter withholds, a snippet cannot show.
    return {
      data: (await this.presenter.present(page, auth.userId)).map((message) => ({
        message,
        highlight: highlight(message.content, parsed.positive),
      })),
      nextCursor: rows.length > limit && last ? encodeCursor({ id: last.id }) : null,
    };
  }
}
