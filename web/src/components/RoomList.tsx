import type { Room } from 'chat-service/client';
import { useChat, usePresence, useRooms } from '../chat';
import { partnerOf, previewOf, roomTitle } from '../names';
import { hrefOf } from '../route';

/** The user's rooms, latest activity first, live: unread counts, last message, presence of direct partners. */
export function RoomList({ activeId }: { activeId: string | null }) {
  const { client } = useChat();
  const rooms = useRooms(client);
  return (
    <nav aria-label="Rooms" className="rooms">
      {rooms.length === 0 ? (
        <p className="muted pad">No conversations yet.</p>
      ) : (
        <ul>
          {rooms.map((room) => (
            <RoomEntry key={room.id} room={room} active={room.id === activeId} />
          ))}
        </ul>
      )}
    </nav>
  );
}

function RoomEntry({ room, active }: { room: Room; active: boolean }) {
  const { client, userId } = useChat();
  const title = roomTitle(room, userId);
  const partner = partnerOf(room, userId);
  const presence = usePresence(client, partner);
  const preview = previewOf(room, userId);
  const describedBy = `room-${room.id}-meta`;
  return (
    <li>
      <a
        href={hrefOf({ screen: 'room', roomId: room.id })}
        className={`room-entry${active ? ' active' : ''}${room.unreadCount ? ' unread' : ''}`}
        aria-current={active ? 'page' : undefined}
        aria-label={title}
        aria-describedby={describedBy}
      >
        <span className={`avatar ${room.type}`} aria-hidden="true">
          {title.slice(0, 1).toUpperCase()}
          {partner && <span className={`presence ${presence?.online ? 'online' : 'offline'}`} />}
        </span>
        <span className="room-text">
          <span className="room-title">{title}</span>
          <span className="room-preview" id={describedBy}>
            {room.muted ? '🔕 ' : ''}
            {preview}
            {partner && <span className="sr-only">{presence?.online ? ', online' : ', offline'}</span>}
          </span>
        </span>
        {room.unreadCount > 0 && (
          <span className="badge" aria-label={`${room.unreadCount} unread`}>
            {room.unreadCount}
          </span>
        )}
      </a>
    </li>
  );
}
