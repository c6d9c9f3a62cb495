import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import type { Room } from 'chat-service/client';
import { useChat, usePresence } from '../chat';
import { navigate } from '../route';
import { errorText } from '../paging';
import './panels.css';
import { Pins } from './RoomPins';
import { BlockControl } from './BlockControl';
import { partnerOf } from '../names';
import { ErrorText, Notice } from './Feedback';

type Ability = Room['abilities'][number];
type Person = Room['participants'][number];

const ROLE_ORDER: Record<Person['role'], number> = { owner: 0, admin: 1, agent: 2, member: 3 };
/** Slow mode choices (seconds: text) and mute spans (key: [text, seconds or null for until turned back on]). */
const SLOW_MODES: Record<number, string> = {
  0: 'Off',
  10: '10 seconds',
  30: '30 seconds',
  60: '1 minute',
  300: '5 minutes',
  900: '15 minutes',
  3600: '1 hour',
};
const MUTE_FOR: Record<string, [string, number | null]> = {
  always: ['Until turned back on', null],
  '1h': ['1 hour', 3600],
  '8h': ['8 hours', 28800],
  '1d': ['1 day', 86400],
  '1w': ['1 week', 604800],
};
const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const TYPE_TEXT: Record<Room['type'], string> = { direct: 'Direct chat', group: 'Group', business: 'Business room', support: 'Support' };

const narrow = () => typeof matchMedia === 'function' && matchMedia('(max-width: 720px)').matches;

/**
 * A room's people and settings, beside the timeline (full screen on a phone). What is offered follows the room's
 * `abilities` from the server, never the client's own reading of roles; a refusal still shows as an alert.
 */
export function RoomInfo({ view, onClose }: { view: Room; onClose(): void }) {
  const { client, userId } = useChat();
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState('');
  const [busy, setBusy] = useState<string | null>(null);
  const [confirmLeave, setConfirmLeave] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const ids = useId();
  const can = (a: Ability) => view.abilities.includes(a);
  const partner = partnerOf(view, userId);

  // Focus moves into the panel when it opens, so a screen reader announces it and Tab starts there.
  useEffect(() => heading.current?.focus(), []);

  // Escape closes the panel from inside it, or when focus fell back to the page (its button was just removed).
  const panel = useRef<HTMLElement>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape' || e.defaultPrevented) return;
      const target = e.target as Node | null;
      if (target === document.body || (target && panel.current?.contains(target))) onClose();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [onClose]);

  /** One action at a time; its failure is the alert, its success a polite status. */
  const act = async (key: string, run: () => Promise<unknown>, done?: string): Promise<boolean> => {
    setBusy(key);
    setError(null);
    setNotice('');
    try {
      await run();
      if (done) setNotice(done);
      return true;
    } catch (err) {
      setError(errorText(err));
      return false;
    } finally {
      setBusy(null);
    }
  };

  const leave = async () => {
    if (await act('leave', () => client.api.removeParticipant(view.id, userId))) navigate({ screen: 'home' });
  };
  const setStatus = (status: 'open' | 'closed') =>
    act(status, () => client.api.updateRoom(view.id, { status }), status === 'closed' ? 'Conversation closed.' : 'Conversation reopened.');

  const people = [...view.participants].sort(
    (a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || (a.name ?? a.userId).localeCompare(b.name ?? b.userId),
  );
  const slowMode = 'slowModeS' in view ? Number((view as Room & { slowModeS: unknown }).slowModeS) || 0 : null;

  return (
    <aside className="panel room-info" aria-labelledby={`${ids}-title`} ref={panel}>
      <header className="panel-header">
        <h2 id={`${ids}-title`} ref={heading} tabIndex={-1}>
          Details
        </h2>
        <button type="button" className="secondary" onClick={onClose}>
          Close
        </button>
      </header>
      <p className="muted small">
        {TYPE_TEXT[view.type]}
        {view.type === 'support' ? ` · ${view.status ?? 'open'}` : ''} · since {when.format(new Date(view.createdAt))}
      </p>
      <ErrorText error={error} />
      <Notice notice={notice} />

      {can('update-room') ? (
        <AboutForm key={`${view.name ?? ''}\n${view.description ?? ''}`} view={view} busy={busy === 'about'} act={act} />
      ) : (
        view.description && <p className="description">{view.description}</p>
      )}

      {(can('close-room') || can('reopen-room')) && (
        <section className="info-section">
          <h3>Status</h3>
          <p>{view.status === 'closed' ? 'This conversation is closed.' : 'This conversation is open.'}</p>
          {can(view.status === 'closed' ? 'reopen-room' : 'close-room') && (
            <button
              type="button"
              className="secondary"
              disabled={busy !== null}
              onClick={() => void setStatus(view.status === 'closed' ? 'open' : 'closed')}
            >
              {view.status === 'closed' ? 'Reopen conversation' : 'Close conversation'}
            </button>
          )}
        </section>
      )}

      <section className="info-section">
        <h3>Notifications</h3>
        <MuteControl view={view} busy={busy === 'mute'} act={act} />
      </section>

      {slowMode !== null && (can('set-slow-mode') || slowMode > 0) && (
        <section className="info-section">
          <h3>Slow mode</h3>
          {can('set-slow-mode') ? (
            <label>
              <span className="sr-only">Slow mode</span>
              <select
                value={slowMode}
                disabled={busy === 'slow'}
                onChange={(e) => {
                  const slowModeS = Number(e.target.value);
                  void act('slow', () => client.api.updateRoom(view.id, { slowModeS }), 'Slow mode updated.');
                }}
              >
                {Object.entries({ ...SLOW_MODES, [slowMode]: SLOW_MODES[slowMode] ?? duration(slowMode) }).map(([s, text]) => (
                  <option key={s} value={s}>
                    {text}
                  </option>
                ))}
              </select>
            </label>
          ) : (
            <p>Members may write once every {duration(slowMode)}.</p>
          )}
        </section>
      )}

      <section className="info-section" aria-labelledby={`${ids}-people`}>
        <h3 id={`${ids}-people`}>
          People <span className="muted small">({people.length})</span>
        </h3>
        <ul className="people">
          {people.map((p, i) => (
            <PersonEntry key={p.userId} person={p} me={userId} nameId={`${ids}-p${i}`}>
              {can('remove-participants') && p.userId !== userId && (
                <button
                  type="button"
                  className="link danger"
                  aria-describedby={`${ids}-p${i}`}
                  disabled={busy !== null}
                  onClick={() =>
                    void act(`remove:${p.userId}`, () => client.api.removeParticipant(view.id, p.userId), `${p.name ?? p.userId} removed.`)
                  }
                >
                  Remove
                </button>
              )}
            </PersonEntry>
          ))}
        </ul>
        {can('add-participants') && <AddPerson view={view} busy={busy === 'add'} act={act} />}
      </section>

      <Pins view={view} onOpen={() => narrow() && onClose()} act={act} />

      {partner && <BlockControl partner={partner} name={view.participants.find((p) => p.userId === partner)?.name ?? partner} />}

      {can('leave-room') && (
        <section className="info-section">
          {confirmLeave ? (
            <div className="confirm" role="group" aria-label="Leave this conversation?">
              <p>Leave this conversation? You will not see new messages unless someone adds you again.</p>
              <button type="button" className="danger-fill" disabled={busy !== null} onClick={() => void leave()} autoFocus>
                Yes, leave
              </button>
              <button type="button" className="secondary" onClick={() => setConfirmLeave(false)}>
                Stay
              </button>
            </div>
          ) : (
            <button type="button" className="secondary danger" onClick={() => setConfirmLeave(true)}>
              Leave
            </button>
          )}
        </section>
      )}
    </aside>
  );
}

export type Act = (key: string, run: () => Promise<unknown>, done?: string) => Promise<boolean>;

function AboutForm({ view, busy, act }: { view: Room; busy: boolean; act: Act }) {
  const { client } = useChat();
  const [name, setName] = useState(view.name ?? '');
  const [description, setDescription] = useState(view.description ?? '');
  const changed = name.trim() !== (view.name ?? '') || description.trim() !== (view.description ?? '');
  const save = (e: FormEvent) => {
    e.preventDefault();
    const patch: { name?: string | null; description?: string | null } = {};
    if (name.trim() !== (view.name ?? '')) patch.name = name.trim() || null;
    if (description.trim() !== (view.description ?? '')) patch.description = description.trim() || null;
    void act('about', () => client.api.updateRoom(view.id, patch), 'Saved.');
  };
  return (
    <form className="info-section about" onSubmit={save}>
      <label>
        Title
        <input value={name} onChange={(e) => setName(e.target.value)} maxLength={200} placeholder="No title" />
      </label>
      <label>
        Description
        <textarea value={description} onChange={(e) => setDescription(e.target.value)} maxLength={2000} rows={3} />
      </label>
      <div>
        <button type="submit" disabled={!changed || busy}>
          Save
        </button>
      </div>
    </form>
  );
}

function MuteControl({ view, busy, act }: { view: Room; busy: boolean; act: Act }) {
  const { client } = useChat();
  const [span, setSpan] = useState('always');
  // The box follows the click at once; the room's own `muted` takes over when the server answers (or refuses).
  const [asked, setAsked] = useState<boolean | null>(null);
  const id = useId();
  const toggle = async (muted: boolean) => {
    const seconds = MUTE_FOR[span]?.[1] ?? null;
    const until = muted && seconds !== null ? new Date(Date.now() + seconds * 1000).toISOString() : null;
    setAsked(muted);
    await act('mute', () => client.api.setMuted(view.id, muted, until), muted ? 'Muted.' : 'Notifications on.');
    setAsked(null);
  };
  return (
    <div className="mute">
      <label className="inline">
        <input type="checkbox" checked={asked ?? view.muted} disabled={busy} onChange={(e) => void toggle(e.target.checked)} />
        Mute notifications
      </label>
      {(asked ?? view.muted) ? (
        view.mutedUntil && <span className="muted small">until {when.format(new Date(view.mutedUntil))}</span>
      ) : (
        <label className="inline" htmlFor={id}>
          <span className="sr-only">Mute</span> for
          <select id={id} value={span} onChange={(e) => setSpan(e.target.value)}>
            {Object.entries(MUTE_FOR).map(([key, [text]]) => (
              <option key={key} value={key}>
                {text}
              </option>
            ))}
          </select>
        </label>
      )}
      {view.type === 'direct' && <p className="muted small">Direct messages and mentions still notify you.</p>}
    </div>
  );
}

// Buttons are named by what they do alone ("Remove", "Unpin") and described by whom or what they act on: a name made
// of user text could contain a word the contract reserves for another control.
function PersonEntry({ person, me, nameId, children }: { person: Person; me: string; nameId: string; children?: ReactNode }) {
  const { client } = useChat();
  const presence = usePresence(client, person.userId === me ? undefined : person.userId);
  const online = person.userId === me || presence?.online === true;
  const name = person.name ?? person.userId;
  return (
    <li className="person">
      <span className="avatar" aria-hidden="true">
        {name.slice(0, 1).toUpperCase()}
        <span className={`presence ${online ? 'online' : 'offline'}`} />
      </span>
      <span className="person-text">
        <span className="person-name" id={nameId}>
          {name}
          {person.userId === me && <span className="muted"> (you)</span>}
          <span className="sr-only">, {online ? 'online' : 'offline'}</span>
        </span>
        <span className="muted small">
          {person.userId}
          {' · '}
          {person.role}
        </span>
      </span>
      {children}
    </li>
  );
}

function AddPerson({ view, busy, act }: { view: Room; busy: boolean; act: Act }) {
  const { client } = useChat();
  const [value, setValue] = useState('');
  const id = useId();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const userIds = [...new Set(value.split(/[,\s]+/).filter(Boolean))];
    if (userIds.length === 0) return;
    if (await act('add', () => client.api.addParticipants(view.id, userIds), `Added ${userIds.join(', ')}.`)) setValue('');
  };
  return (
    <form className="add-person" onSubmit={(e) => void submit(e)}>
      <label htmlFor={id}>Add person</label>
      <div className="row">
        <input
          id={id}
          value={value}
          onChange={(e) => setValue(e.target.value)}
          placeholder={view.type === 'support' ? 'a staff member’s user id' : 'user ids, comma-separated'}
          autoComplete="off"
        />
        <button type="submit" disabled={busy || !value.trim()}>
          Add
        </button>
      </div>
    </form>
  );
}

function duration(s: number): string {
  if (s % 3600 === 0) return s === 3600 ? 'hour' : `${s / 3600} hours`;
  if (s % 60 === 0) return s === 60 ? 'minute' : `${s / 60} minutes`;
  return `${s} seconds`;
}
