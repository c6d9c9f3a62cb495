import type { Message, ReactionUpdatedEvent, MessageDeletedEvent, Room, SuspendedEvent } from '../../src/contract/events.js';

export type { Message, Room, ReactionUpdatedEvent, MessageDeletedEvent, SuspendedEvent };

/** A message in a room's timeline: a stored one, or one of the client's own sends on its way (`pending`). */
export type TimelineMessage = (Message & { pending?: false }) | PendingMessage;

/** An optimistic copy of a send: replaced by the stored message (same clientMessageId), never shown beside it. */
export type PendingMessage = Omit<Message, 'seq'> & { seq: null; pending: true };

export type ClientState = 'connecting' | 'catching_up' | 'live' | 'offline' | 'closed';

export interface SendInput {
  content: string;
  replyToId?: string | null;
  mentions?: string[];
  /** Browser File/Blob objects (or Blobs with a `name`): uploaded first, then sent with the message. */
  files?: Blob[];
  /** Upload progress of the files, 0–1, in browsers (each retry starts again from 0). */
  onProgress?: (fraction: number) => void;
}
