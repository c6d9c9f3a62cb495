import { useCallback, useEffect, useId, useRef, useState } from 'react';
import type { ChatRoom, Message, Room } from 'chat-service/client';
import { useChat, useRoomChanges } from '../chat';
import { nameIn } from '../names';
import { hrefOf } from '../route';
import type { Act } from './RoomInfo';

/** The room's pins, read again whenever a pin may have changed (the count, or a pin seen in the open timeline). */
export function Pins({ view, onOpen, act }: { view: Room; onOpen(): void; act: Act }) {
  const { client } = useChat();
  const [room, setRoom] = useState<ChatRoom | null>(null);
  const [pins, setPins] = useState<Message[] | null>(null);
  const [failed, setFailed] = useState(false);
  const ids = useId();
  useRoomChanges(room);

  useEffect(() => {
    let current = true;
    // The room is open already (its view is showing): this is the same object, for its live changes.
    client.openRoom(view.id).then(
      (r) => current && setRoom(r),
      () => {},
    );
    return () => {
      current = false;
    };
  }, [client, view.id]);

  const held = room ? room.messages.filter((m) => m.pinnedAt && !m.deletedAt).map((m) => `${m.id}:${m.changeSeq}`) : [];
  const signature = `${view.pinnedCount}|${held.join(',')}`;
  const latest = useRef(0);
  const load = useCallback(async () => {
    const ticket = ++latest.current;
    try {
      const page = await client.api.pins(view.id, { limit: 50 });
      if (ticket !== latest.current) return;
      setPins(page.data);
      setFailed(false);
    } catch {
      if (ticket === latest.current) setFailed(true);
    }
  }, [client, view.id]);

  useEffect(() => {
    void load();
  }, [load, signature]);

  const canUnpin = view.abilities.includes('pin-message');
  return (
    <section className="info-section">
      <h3>Pinned</h3>
      {failed && <p className="muted small">The pinned messages could not be read.</p>}
      {pins === null && !failed && <p className="muted small">Loading…</p>}
      {pins?.length === 0 && <p className="muted small">Nothing pinned yet.</p>}
      {pins && pins.length > 0 && (
        <ul className="pins">
          {pins.map((m, i) => (
            <li key={m.id}>
              <a href={hrefOf({ screen: 'room', roomId: view.id, messageId: m.id })} onClick={onOpen}>
                <span className="pin-sender">{nameIn(view, m.senderId)}</span>
                <span className="pin-text" id={`${ids}-pin${i}`}>
                  {summary(m)}
                </span>
              </a>
              {canUnpin && room && (
                <button
                  type="button"
                  className="link"
                  aria-describedby={`${ids}-pin${i}`}
                  onClick={() => void act(`unpin:${m.id}`, () => room.unpin(m.id).then(load), 'Unpinned.')}
                >
                  Unpin
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function summary(m: Message): string {
  const text = m.content.replace(/\s+/g, ' ').trim();
  if (text) return text.length > 140 ? `${text.slice(0, 140)}…` : text;
  if (m.media.length) return m.media.length === 1 ? (m.media[0]!.fileName ?? m.media[0]!.kind) : `${m.media.length} files`;
  return '(empty)';
}
