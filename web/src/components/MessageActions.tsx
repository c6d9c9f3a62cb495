import { useEffect, useRef, useState, type CSSProperties } from 'react';
import type { ChatRoom, Room, TimelineMessage } from 'chat-service/client';
import { useReport } from './ReportDialog';

export const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'];

interface Props {
  room: ChatRoom;
  view: Room;
  message: TimelineMessage;
  mine: boolean;
  onReply(): void;
  onEdit(): void;
  act(fn: () => Promise<unknown>): Promise<void>;
}

/**
 * One "Actions" button per message opening a small menu: reply, react, edit, delete, pin — as the room's abilities
 * allow — and report someone else's message.
 */
export function MessageActions({ room, view, message: m, mine, onReply, onEdit, act }: Props) {
  const [open, setOpen] = useState(false);
  const [place, setPlace] = useState<CSSProperties>({});
  const menu = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);

  // Fixed to the viewport beside its button, above it when there is room, else below: never cut off by the
  // scrolling timeline (the first message on screen sits right under the room's header).
  const toggle = () => {
    const rect = button.current?.getBoundingClientRect();
    if (rect) {
      const right = Math.max(8, window.innerWidth - rect.right);
      setPlace(
        rect.top > 280
          ? { position: 'fixed', right, bottom: window.innerHeight - rect.top + 4 }
          : { position: 'fixed', right, top: rect.bottom + 4 },
      );
    }
    setOpen((o) => !o);
  };
  const can = (a: Room['abilities'][number]) => view.abilities.includes(a);
  const mayDelete = (mine && can('delete-own-message')) || can('delete-any-message');
  const report = useReport();

  useEffect(() => {
    if (!open) return;
    menu.current?.querySelector<HTMLElement>('button')?.focus();
    const close = (e: MouseEvent) => {
      if (!menu.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [open]);

  const run = (fn: () => void | Promise<unknown>) => {
    setOpen(false);
    const result = fn();
    if (result instanceof Promise) void act(() => result);
  };

  return (
    <span className="actions-wrap">
      <button ref={button} type="button" className="icon" aria-haspopup="menu" aria-expanded={open} aria-label="Actions" onClick={toggle}>
        ⋯
      </button>
      {open && (
        <div
          className="menu"
          style={place}
          role="menu"
          ref={menu}
          onKeyDown={(e) => {
            if (e.key === 'Escape') setOpen(false);
          }}
        >
          <div className="quick" role="group" aria-label="React">
            {QUICK_REACTIONS.map((emoji) => {
              const me = m.reactions.some((r) => r.emoji === emoji && r.me);
              return (
                <button
                  key={emoji}
                  type="button"
                  role="menuitemcheckbox"
                  aria-checked={me}
                  aria-label={`React ${emoji}`}
                  onClick={() => run(() => (me ? room.unreact(m.id, emoji) : room.react(m.id, emoji)))}
                >
                  {emoji}
                </button>
              );
            })}
          </div>
          <button type="button" role="menuitem" onClick={() => run(onReply)}>
            Reply
          </button>
          {mine && (
            <button type="button" role="menuitem" onClick={() => run(onEdit)}>
              Edit
            </button>
          )}
          {can('pin-message') && (
            <button type="button" role="menuitem" onClick={() => run(() => (m.pinnedAt ? room.unpin(m.id) : room.pin(m.id)))}>
              {m.pinnedAt ? 'Unpin' : 'Pin'}
            </button>
          )}
          {!mine && report && (
            <button type="button" role="menuitem" onClick={() => run(() => report(m.id, button.current))}>
              Report
            </button>
          )}
          {mayDelete && (
            <button
              type="button"
              role="menuitem"
              className="danger"
              onClick={() => run(() => (confirm('Delete this for everyone?') ? room.delete(m.id) : undefined))}
            >
              Delete
            </button>
          )}
        </div>
      )}
    </span>
  );
}
