import { createContext, useContext, useEffect, useReducer, useState } from 'react';
import type { ChatClient, ChatRoom, ClientState, Presence, Room } from 'chat-service/client';

export interface ChatContextValue {
  client: ChatClient;
  userId: string;
  role: string;
  name: string | null;
  signOut(): void;
}

export const ChatContext = createContext<ChatContextValue | null>(null);

export function useChat(): ChatContextValue {
  const value = useContext(ChatContext);
  if (!value) throw new Error('useChat outside a signed-in app');
  return value;
}

export function useClientState(client: ChatClient): ClientState {
  const [state, setState] = useState(client.state);
  useEffect(() => {
    setState(client.state);
    return client.on('state', setState);
  }, [client]);
  return state;
}

export function useRooms(client: ChatClient): Room[] {
  const [rooms, setRooms] = useState(() => client.rooms);
  useEffect(() => {
    setRooms(client.rooms);
    return client.on('rooms', setRooms);
  }, [client]);
  return rooms;
}

export function useRoomView(client: ChatClient, roomId: string | null): Room | undefined {
  const rooms = useRooms(client);
  return roomId ? rooms.find((r) => r.id === roomId) : undefined;
}

/** Re-renders on every change of an open room (messages, typing, read positions). */
export function useRoomChanges(room: ChatRoom | null): number {
  const [version, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => room?.on('change', bump), [room]);
  return version;
}

export function usePresence(client: ChatClient, userId: string | undefined): Presence | undefined {
  const [presence, setPresence] = useState(() => (userId ? client.presence.get(userId) : undefined));
  useEffect(() => {
    if (!userId) return;
    setPresence(client.presence.get(userId));
    return client.on('presence', (id, p) => {
      if (id === userId) setPresence(p);
    });
  }, [client, userId]);
  return presence;
}
