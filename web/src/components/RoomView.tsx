import { useEffect, useState } from 'react';
import { ChatError, type ChatRoom } from 'chat-service/client';
import { useChat, usePresence, useRoomChanges, useRoomView } from '../chat';
import { nameIn, partnerOf, roomTitle } from '../names';
import { hrefOf } from '../route';
import { Timeline } from './Timeline';
import { Composer } from './Composer';
import { RoomInfo } from './RoomInfo';

/** One open room: header, timeline, composer; marks what the user has seen as read. */
export function RoomView({ roomId, messageId }: { roomId: string; messageId?: string | undefined }) {
  const { client, userId } = useChat();
  const [room, setRoom] = useState<ChatRoom | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [showInfo, setShowInfo] = useState(false);
  const [replyTo, setReplyTo] = useState<string | null>(null);
  const view = useRoomView(client, roomId);
  useRoomChanges(room);

  useEffect(() => {
    let current = true;
    setRoom(null);
    setError(null);
    const opening = client.openRoom(roomId);
    // Drawn as soon as its latest page is held: the catch-up openRoom finishes with lands as ordinary changes.
    const early = client.room(roomId);
    const off = early?.on('change', () => {
      if (current && early.loaded) setRoom(early);
    });
    if (early?.loaded) setRoom(early);
    opening.then(
      (r) => current && setRoom(r),
      (err: unknown) => {
        if (!current) return;
        setError(
          err instanceof ChatError && err.code === 'NOT_FOUND'
            ? 'This conversation does not exist or you are not in it.'
            : String((err as Error).message),
        );
      },
    );
    return () => {
      current = false;
      off?.();
    };
  }, [client, roomId]);

  const partner = view ? partnerOf(view, userId) : undefined;
  const presence = usePresence(client, partner);
  const title = view ? roomTitle(view, userId) : '';
  const typing = room?.typing ?? [];

  return (
    <section className="room" aria-labelledby="room-title">
      <header className="room-header">
        <a className="back" href={hrefOf({ screen: 'home' })} aria-label="All conversations">
          ‹
        </a>
        <div className="room-heading">
          <h2 id="room-title">{title || '…'}</h2>
          <p className="muted small">
            {partner
              ? presence?.online
                ? 'online'
                : presence?.lastSeenAt
                  ? `last seen ${new Date(presence.lastSeenAt).toLocaleString()}`
                  : 'offline'
              : view
                ? `${view.participants.length} people${view.type === 'support' ? ` · ${view.status ?? 'open'}` : ''}`
                : ''}
          </p>
        </div>
        <button type="button" className="secondary" onClick={() => setShowInfo((s) => !s)} aria-expanded={showInfo}>
          Details
        </button>
      </header>
      {error && (
        <p role="alert" className="error pad">
          {error}
        </p>
      )}
      <div className="room-body">
        <div className="room-main">
          {room && view && <Timeline room={room} view={view} focusId={messageId} onReply={setReplyTo} />}
          <p className="typing" aria-live="polite">
            {typing.length > 0 && view
              ? `${typing.map((id) => nameIn(view, id)).join(', ')} ${typing.length === 1 ? 'is' : 'are'} typing…`
              : ''}
          </p>
          {room && view && <Composer room={room} view={view} replyTo={replyTo} onReplyDone={() => setReplyTo(null)} />}
        </div>
        {showInfo && view && <RoomInfo view={view} onClose={() => setShowInfo(false)} />}
      </div>
    </section>
  );
}
