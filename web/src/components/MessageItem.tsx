import { memo, useState, type ReactNode } from 'react';
import { ChatError, type ChatRoom, type Room, type TimelineMessage } from 'chat-service/client';
import { formatTime, nameIn } from '../names';
import { MediaList } from './Media';
import { MessageActions } from './MessageActions';

export type Tick = 'sending' | 'sent' | 'delivered' | 'read';
const TICK_TEXT: Record<Tick, string> = { sending: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓' };
const TICK_LABEL: Record<Tick, string> = { sending: 'Sending', sent: 'Sent', delivered: 'Delivered', read: 'Read' };

/** pending → stored → delivered (every other participant's app has it) → read (every other participant read it). */
export function tickOf(room: ChatRoom, view: Room, m: TimelineMessage, me: string): Tick {
  if (m.pending || m.seq === null) return 'sending';
  const others = view.participants.filter((p) => p.userId !== me);
  if (others.length === 0) return 'sent';
  const readBy = (userId: string, fallback: number) => Math.max(room.readers.get(userId) ?? 0, fallback);
  if (others.every((p) => readBy(p.userId, p.lastReadSeq) >= m.seq!)) return 'read';
  const deliveredTo = (userId: string, fallback: number) => Math.max(room.delivered.get(userId) ?? 0, fallback);
  if (others.every((p) => Math.max(deliveredTo(p.userId, p.lastDeliveredSeq), readBy(p.userId, p.lastReadSeq)) >= m.seq!))
    return 'delivered';
  return 'sent';
}

/** Content as text, never HTML: mentions of participants are emphasised, everything else is a text node. */
export function renderContent(content: string, view: Room, mentions: string[]): ReactNode[] {
  if (mentions.length === 0) return [content];
  const names = mentions.map((id) => `@${nameIn(view, id)}`).concat(mentions.map((id) => `@${id}`));
  const pattern = new RegExp(`(${names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'g');
  return content.split(pattern).map((part, i) =>
    names.includes(part) ? (
      <span key={i} className="mention">
        {part}
      </span>
    ) : (
      part
    ),
  );
}

interface Props {
  room: ChatRoom;
  view: Room;
  message: TimelineMessage;
  grouped: boolean;
  mine: boolean;
  highlighted: boolean;
  /** Own messages: how far it got (computed by the list, so an unchanged row is not drawn again). */
  tick: Tick | null;
  /** A reply: its parent's text as the room holds it now. */
  quote: string | null;
  onReply(id: string): void;
  onQuote(id: string): void;
}

function MessageItemView({ room, view, message: m, grouped, mine, highlighted, tick, quote, onReply, onQuote }: Props) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string | null>(null);
  const sender = nameIn(view, m.senderId);

  const act = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError(err instanceof ChatError ? err.message : String(err));
    }
  };

  const save = () =>
    act(async () => {
      await room.edit(m.id, draft);
      setEditing(false);
    });

  return (
    <article
      className={`message${mine ? ' mine' : ''}${grouped ? ' grouped' : ''}${m.deletedAt ? ' deleted' : ''}${highlighted ? ' highlighted' : ''}${m.pending ? ' pending' : ''}`}
      aria-labelledby={`m-${m.id}-sender`}
      data-seq={m.seq ?? undefined}
    >
      <header className={grouped ? 'sr-only' : 'message-header'}>
        <span className="sender" id={`m-${m.id}-sender`}>
          {sender}
        </span>{' '}
        <time dateTime={m.createdAt} className="muted small">
          {formatTime(m.createdAt)}
        </time>
      </header>
      {m.replyTo && (
        <blockquote className="quote" onClick={() => onQuote(m.replyTo!.id)}>
          <span className="quote-sender">{nameIn(view, m.replyTo.senderId)}</span>
          <span className="quote-text">{quote}</span>
          <button
            type="button"
            className="link small"
            aria-label="Go to quote"
            onClick={(e) => {
              e.stopPropagation();
              onQuote(m.replyTo!.id);
            }}
          >
            ↑
          </button>
        </blockquote>
      )}
      {m.deletedAt ? (
        <p className="content muted">This message was deleted.</p>
      ) : editing ? (
        <div className="edit">
          <textarea
            aria-label="Edit text"
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            rows={2}
            autoFocus
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey) {
                e.preventDefault();
                void save();
              }
              if (e.key === 'Escape') setEditing(false);
            }}
          />
          <button type="button" onClick={() => void save()}>
            Save
          </button>
          <button type="button" className="secondary" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </div>
      ) : (
        m.content && <p className="content">{renderContent(m.content, view, m.mentions)}</p>
      )}
      {!m.deletedAt && m.media.length > 0 && <MediaList media={m.media} />}
      <footer className="message-footer">
        {m.pinnedAt && (
          <span className="pin small" title="Pinned">
            📌 Pinned
          </span>
        )}
        {m.editedAt && !m.deletedAt && <span className="muted small">(edited)</span>}
        {m.reactions.length > 0 && (
          <span className="reactions">
            {m.reactions.map((r) => (
              <button
                key={r.emoji}
                type="button"
                className={`reaction${r.me ? ' me' : ''}`}
                aria-pressed={r.me}
                aria-label={`${r.emoji} ${r.count}`}
                disabled={m.pending || !!m.deletedAt}
                onClick={() => void act(() => (r.me ? room.unreact(m.id, r.emoji) : room.react(m.id, r.emoji)))}
              >
                {r.emoji} {r.count}
              </button>
            ))}
          </span>
        )}
        {tick && (
          <span className={`tick tick-${tick}`} data-status={tick} title={TICK_LABEL[tick]} aria-label={TICK_LABEL[tick]}>
            {TICK_TEXT[tick]}
          </span>
        )}
        {!m.pending && !m.deletedAt && (
          <MessageActions
            room={room}
            view={view}
            message={m}
            mine={mine}
            onReply={() => onReply(m.id)}
            onEdit={() => {
              setDraft(m.content);
              setEditing(true);
            }}
            act={act}
          />
        )}
      </footer>
      {error && (
        <p role="alert" className="error small">
          {error}
        </p>
      )}
    </article>
  );
}

/** The quoted parent as the room holds it now (an edit or delete of the parent shows), else the reply's snapshot. */
export function quoted(room: ChatRoom, parent: NonNullable<TimelineMessage['replyTo']>): string {
  const held = room.messages.find((x) => x.id === parent.id);
  if (held?.deletedAt || (parent as { deletedAt?: string | null }).deletedAt) return 'Deleted message';
  const text = held ? held.content : parent.content;
  return text.slice(0, 200) || parent.type;
}

/** Rows are drawn again only when what they show changed: the virtualised list re-renders often while it measures. */
export const MessageItem = memo(MessageItemView);
