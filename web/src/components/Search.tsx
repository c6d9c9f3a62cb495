import { useCallback, useEffect, useId, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import type { Room, SearchInput, SearchPageView } from 'chat-service/client';
import { useChat, useRooms } from '../chat';
import { nameIn, roomTitle } from '../names';
import { hrefOf } from '../route';
import { usePages } from '../paging';
import './panels.css';

type Hit = SearchPageView['data'][number];
type Kind = '' | NonNullable<SearchInput['type']>;

interface Filters {
  q: string;
  roomId: string;
  author: string;
  kind: Kind;
  files: '' | 'yes' | 'no';
  from: string;
  to: string;
}

const EMPTY: Filters = { q: '', roomId: '', author: '', kind: '', files: '', from: '', to: '' };
const KINDS: Array<[Kind, string]> = [
  ['', 'Any kind'],
  ['text', 'Text'],
  ['image', 'Image'],
  ['video', 'Video'],
  ['audio', 'Audio'],
  ['document', 'Document'],
];
const PAGE = 20;
const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const DEBOUNCE_MS = 300;

/**
 * The last search of this tab: opening a result leaves the screen, and coming back (the browser's Back) shows the same
 * results instead of an empty form.
 */
let remembered: { filters: Filters; hits: Hit[]; next: string | null; ran: string } | null = null;

function inputOf(f: Filters): SearchInput | null {
  const q = f.q.trim();
  if (!q) return null;
  return {
    q,
    limit: PAGE,
    ...(f.roomId ? { chatRoomId: f.roomId } : {}),
    ...(f.author.trim() ? { senderId: f.author.trim() } : {}),
    ...(f.kind ? { type: f.kind } : {}),
    ...(f.files ? { hasMedia: f.files === 'yes' } : {}),
    ...(f.from ? { from: f.from } : {}),
    ...(f.to ? { to: f.to } : {}),
  };
}

const hitIdOf = (hit: Hit) => hit.message.id;

/** Search across the user's rooms: words, "phrases", -exclusions; each result opens its room at that message. */
export function SearchScreen() {
  const { client } = useChat();
  const rooms = useRooms(client);
  const [filters, setFilters] = useState<Filters>(() => remembered?.filters ?? EMPTY);
  const [initial] = useState(() => ({ items: remembered?.hits ?? [], next: remembered?.next ?? null }));
  const { items: hits, next, busy, error, load, clear } = usePages(hitIdOf, initial);
  // The query (as JSON) the shown results answer: '' before the first search.
  const [ran, setRan] = useState(() => remembered?.ran ?? '');
  const typed = useRef<ReturnType<typeof setTimeout>>(undefined);
  const backwards = Boolean(filters.from && filters.to && filters.from > filters.to);
  const input = useMemo(() => (backwards ? null : inputOf(filters)), [filters, backwards]);
  const key = input ? JSON.stringify(input) : '';

  useEffect(() => {
    remembered = { filters, hits, next, ran };
  }, [filters, hits, next, ran]);

  // Only the latest request shows its answer: typing fires several, and they may come back out of order.
  const run = useCallback(
    async (query: SearchInput | null, cursor?: string) => {
      if (!query) {
        clear();
        setRan('');
        return;
      }
      if (await load(() => client.api.search(cursor ? { ...query, cursor } : query), !!cursor)) setRan(JSON.stringify(query));
    },
    [client, load, clear],
  );

  // Results follow the form as it changes (debounced); a search already showing for this query is not asked again.
  useEffect(() => {
    if (key === ran) return;
    const timer = setTimeout(() => void run(input), DEBOUNCE_MS);
    typed.current = timer;
    return () => clearTimeout(timer);
  }, [key, ran, input, run]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    clearTimeout(typed.current);
    void run(input);
  };
  const set =
    <K extends keyof Filters>(name: K) =>
    (value: Filters[K]) =>
      setFilters((f) => ({ ...f, [name]: value }));
  const reset = () => {
    setFilters(EMPTY);
    void run(null);
  };

  const people = useMemo(() => knownPeople(rooms), [rooms]);
  const ids = useId();
  const filtered = Boolean(filters.roomId || filters.author || filters.kind || filters.files || filters.from || filters.to);
  const [showFilters, setShowFilters] = useState(filtered);
  const stale = key !== ran;

  return (
    <section className="screen-page" aria-labelledby={`${ids}-title`}>
      <header className="page-header">
        <a className="back" href={hrefOf({ screen: 'home' })} aria-label="All conversations">
          ‹
        </a>
        <h2 id={`${ids}-title`}>Search</h2>
      </header>
      <form className="search-form" role="search" onSubmit={submit}>
        <div className="search-row">
          <label className="grow">
            <span className="sr-only">Search text</span>
            <input
              value={filters.q}
              onChange={(e) => set('q')(e.target.value)}
              placeholder='Words, "a phrase", -without'
              maxLength={500}
              autoFocus
              enterKeyHint="search"
            />
          </label>
          <button type="submit" disabled={!input}>
            Search
          </button>
        </div>
        <button
          type="button"
          className="link filters-toggle"
          aria-expanded={showFilters}
          aria-controls={`${ids}-filters`}
          onClick={() => setShowFilters((s) => !s)}
        >
          Filters{filtered ? ' (on)' : ''}
        </button>
        <div className="filters" id={`${ids}-filters`} hidden={!showFilters}>
          <div className="filter-grid">
            <label>
              Room
              <select value={filters.roomId} onChange={(e) => set('roomId')(e.target.value)}>
                <option value="">All conversations</option>
                {rooms.map((r) => (
                  <option key={r.id} value={r.id}>
                    {roomTitle(r, client.userId)}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Author
              <input
                value={filters.author}
                onChange={(e) => set('author')(e.target.value)}
                list={`${ids}-people`}
                placeholder="their user id"
                autoComplete="off"
              />
              <datalist id={`${ids}-people`}>
                {people.map(([id, name]) => (
                  <option key={id} value={id}>
                    {name}
                  </option>
                ))}
              </datalist>
            </label>
            <label>
              Kind
              <select value={filters.kind} onChange={(e) => set('kind')(e.target.value as Kind)}>
                {KINDS.map(([value, text]) => (
                  <option key={value} value={value}>
                    {text}
                  </option>
                ))}
              </select>
            </label>
            <label>
              Attachments
              <select value={filters.files} onChange={(e) => set('files')(e.target.value as Filters['files'])}>
                <option value="">Any</option>
                <option value="yes">With files</option>
                <option value="no">Without files</option>
              </select>
            </label>
            <label>
              From date
              <input type="date" value={filters.from} max={filters.to || undefined} onChange={(e) => set('from')(e.target.value)} />
            </label>
            <label>
              To date
              <input type="date" value={filters.to} min={filters.from || undefined} onChange={(e) => set('to')(e.target.value)} />
            </label>
          </div>
          <button type="button" className="secondary" onClick={reset}>
            Clear all
          </button>
        </div>
      </form>
      <p role="status" className="muted small pad-x">
        {busy ? 'Searching…' : ran && !stale ? countText(hits.length, next !== null) : ''}
      </p>
      {(error || backwards) && (
        <p role="alert" className="error pad-x">
          {backwards ? 'The from date is after the to date.' : error}
        </p>
      )}
      {hits.length > 0 && (
        <ul className="hits" aria-label="Results" aria-busy={busy}>
          {hits.map((hit) => (
            <HitEntry key={hit.message.id} hit={hit} room={rooms.find((r) => r.id === hit.message.chatRoomId)} me={client.userId} />
          ))}
        </ul>
      )}
      {ran && !stale && hits.length === 0 && !busy && !error && (
        <p className="muted pad">Nothing found. Try other words or fewer filters.</p>
      )}
      {next && (
        <div className="pad-x more">
          <button type="button" className="secondary" disabled={busy} onClick={() => void run(JSON.parse(ran) as SearchInput, next)}>
            {busy ? 'Loading…' : 'Load more'}
          </button>
        </div>
      )}
    </section>
  );
}

const countText = (n: number, more: boolean) => (n === 0 ? 'No results' : `${n}${more ? '+' : ''} result${n === 1 && !more ? '' : 's'}`);

/** Everyone in the user's rooms, for the author suggestions: [userId, name]. */
function knownPeople(rooms: Room[]): Array<[string, string]> {
  const people = new Map<string, string>();
  for (const room of rooms) for (const p of room.participants) if (!people.has(p.userId)) people.set(p.userId, p.name ?? p.userId);
  return [...people].sort((a, b) => a[1].localeCompare(b[1]));
}

function HitEntry({ hit, room, me }: { hit: Hit; room: Room | undefined; me: string }) {
  const m = hit.message;
  const sender = m.senderId === me ? 'You' : nameIn(room, m.senderId);
  const files = m.media.length;
  return (
    <li>
      <a className="hit" href={hrefOf({ screen: 'room', roomId: m.chatRoomId, messageId: m.id })}>
        <span className="hit-meta small">
          <span className="hit-room">{room ? roomTitle(room, me) : 'Conversation'}</span>
          <span className="muted">
            {' · '}
            {sender}
            {' · '}
            <time dateTime={m.createdAt}>{when.format(new Date(m.createdAt))}</time>
          </span>
        </span>
        <span className="hit-snippet">{marked(hit.highlight.snippet, hit.highlight.ranges)}</span>
        {files > 0 && <span className="muted small">📎 {files === 1 ? (m.media[0]!.fileName ?? m.media[0]!.kind) : `${files} files`}</span>}
      </a>
    </li>
  );
}

/**
 * The snippet as text with each match in a <mark>. Ranges count Unicode code points (an emoji is one, not two UTF-16
 * units), so the snippet is split into code points first; ranges out of bounds, empty or overlapping are tolerated.
 */
export function marked(snippet: string, ranges: Array<[number, number]>): ReactNode[] {
  const points = Array.from(snippet);
  const text = (from: number, to: number) => points.slice(from, to).join('');
  const sorted = ranges
    .map(([s, e]) => [Math.max(0, Math.min(s, points.length)), Math.max(0, Math.min(e, points.length))] as const)
    .filter(([s, e]) => e > s)
    .sort((a, b) => a[0] - b[0]);
  const out: ReactNode[] = [];
  let at = 0;
  for (const [s, e] of sorted) {
    const start = Math.max(s, at);
    if (e <= start) continue;
    if (start > at) out.push(text(at, start));
    out.push(<mark key={start}>{text(start, e)}</mark>);
    at = e;
  }
  if (at < points.length) out.push(text(at, points.length));
  return out;
}
