import { useCallback, useEffect, useId, useState } from 'react';
import type { Room } from 'chat-service/client';
import { useChat, useRooms } from '../chat';
import { previewOf } from '../names';
import { hrefOf, navigate } from '../route';
import { errorText, usePages } from '../paging';
import './panels.css';

type Status = 'open' | 'closed';
const PAGE = 30;
const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

const roomIdOf = (room: Room) => room.id;

/** The support rooms for staff (open ones first by default), each to join or open; paged, refreshed on return to the tab. */
export function SupportQueue() {
  const { client, userId, role } = useChat();
  const staff = role === 'support' || role === 'admin';
  const mine = useRooms(client);
  const [status, setStatus] = useState<Status>('open');
  const { items: rooms, next, busy, error, setError, load: loadPage } = usePages(roomIdOf);
  const [loaded, setLoaded] = useState(false);
  const [joining, setJoining] = useState<string | null>(null);
  const ids = useId();

  const load = useCallback(
    async (which: Status, cursor?: string) => {
      const landed = await loadPage(() => client.api.supportQueue({ status: which, limit: PAGE, ...(cursor ? { cursor } : {}) }), !!cursor);
      if (landed) setLoaded(true);
    },
    [client, loadPage],
  );

  useEffect(() => {
    if (!staff) return;
    setLoaded(false);
    void load(status);
    // Nobody is told of a support room they are not in: the queue is read again whenever the tab comes back.
    const again = () => {
      if (document.visibilityState === 'visible') void load(status);
    };
    document.addEventListener('visibilitychange', again);
    return () => document.removeEventListener('visibilitychange', again);
  }, [staff, status, load]);

  const join = async (room: Room) => {
    setJoining(room.id);
    setError(null);
    try {
      await client.api.addParticipants(room.id, [userId]);
      navigate({ screen: 'room', roomId: room.id });
    } catch (err) {
      setError(errorText(err));
      setJoining(null);
    }
  };

  if (!staff) {
    return (
      <section className="screen-page">
        <header className="page-header">
          <a className="back" href={hrefOf({ screen: 'home' })} aria-label="All conversations">
            ‹
          </a>
          <h2>Support queue</h2>
        </header>
        <p className="muted pad">The support queue is for support staff.</p>
      </section>
    );
  }

  // The user's own copy of a joined room is the live one (new messages, status changes).
  const live = new Map(mine.map((r) => [r.id, r]));
  return (
    <section className="screen-page" aria-labelledby={`${ids}-title`}>
      <header className="page-header">
        <a className="back" href={hrefOf({ screen: 'home' })} aria-label="All conversations">
          ‹
        </a>
        <h2 id={`${ids}-title`}>Support queue</h2>
        <button type="button" className="secondary" onClick={() => void load(status)} disabled={busy}>
          Refresh
        </button>
      </header>
      <fieldset className="segmented pad-x">
        <legend className="sr-only">Status</legend>
        {(['open', 'closed'] as const).map((s) => (
          <label key={s} className={status === s ? 'on' : undefined}>
            <input type="radio" name={`${ids}-status`} value={s} checked={status === s} onChange={() => setStatus(s)} />
            {s === 'open' ? 'Open' : 'Closed'}
          </label>
        ))}
      </fieldset>
      <p role="status" className="muted small pad-x">
        {busy
          ? 'Loading…'
          : loaded
            ? `${rooms.length}${next ? '+' : ''} ${status} conversation${rooms.length === 1 && !next ? '' : 's'}`
            : ''}
      </p>
      {error && (
        <p role="alert" className="error pad-x">
          {error}
        </p>
      )}
      {rooms.length > 0 && (
        <ul className="queue" aria-label={status === 'open' ? 'Open support conversations' : 'Closed support conversations'}>
          {rooms.map((r) => {
            const room = live.get(r.id) ?? r;
            return (
              <QueueEntry
                key={r.id}
                room={room}
                me={userId}
                member={room.participants.some((p) => p.userId === userId)}
                joining={joining === r.id}
                onJoin={() => void join(room)}
              />
            );
          })}
        </ul>
      )}
      {loaded && !busy && rooms.length === 0 && !error && (
        <p className="muted pad">{status === 'open' ? 'Nobody is waiting for support.' : 'No closed conversations.'}</p>
      )}
      {next && (
        <div className="pad-x more">
          <button type="button" className="secondary" disabled={busy} onClick={() => void load(status, next)}>
            {busy ? 'Loading…' : 'Load more'}
          </button>
        </div>
      )}
    </section>
  );
}

function QueueEntry(props: { room: Room; me: string; member: boolean; joining: boolean; onJoin(): void }) {
  const { room, me, member, joining, onJoin } = props;
  const customer = room.participants.find((p) => p.userId === room.createdBy);
  const name = customer?.name ?? room.createdBy;
  const agents = room.participants.filter((p) => p.role === 'agent').map((p) => (p.userId === me ? 'you' : (p.name ?? p.userId)));
  const at = room.lastMessage?.createdAt ?? room.createdAt;
  const nameId = useId();
  return (
    <li className="queue-entry">
      <span className="avatar support" aria-hidden="true">
        {name.slice(0, 1).toUpperCase()}
      </span>
      <div className="queue-text">
        <p className="queue-name">
          <strong id={nameId}>{name}</strong>
          {customer?.name && <span className="muted small"> {room.createdBy}</span>}
          {!customer && <span className="muted small"> (has left)</span>}
        </p>
        <p className="queue-preview">{previewOf(room, me)}</p>
        <p className="muted small">
          <time dateTime={at}>{when.format(new Date(at))}</time>
          {' · '}
          {agents.length ? `with ${agents.join(', ')}` : 'no agent yet'}
          {room.unreadCount > 0 && member ? ` · ${room.unreadCount} unread` : ''}
        </p>
      </div>
      {member ? (
        <button type="button" className="secondary" aria-describedby={nameId} onClick={() => navigate({ screen: 'room', roomId: room.id })}>
          Open
        </button>
      ) : (
        <button type="button" aria-describedby={nameId} disabled={joining} onClick={onJoin}>
          {joining ? 'Joining…' : 'Join'}
        </button>
      )}
    </li>
  );
}
