/**
 * The client SDK: `import { ChatClient } from 'chat-service/client'`. Node ≥ 20 and browsers (socket.io-client and
 * fetch only). Event and object types come from the service's own contract (src/contract), the one source of them.
 */
export { ChatClient, type ChatClientOptions } from './client.js';
export { ChatRoom } from './room.js';
export { ChatError } from './errors.js';
export {
  ChatApi,
  type CreateRoomInput,
  type Page,
  type RoomPatch,
  type SearchInput,
  type SearchPageView,
  type OwnProfile,
  type Receipts,
  REPORT_REASONS,
  type BlocksPageView,
  type BlockView,
  type CreateReportInput,
  type ReportReason,
  type ReportView,
  type Presence,
} from './api.js';
export { claimsOf, type TokenSource } from './http.js';
export type { ClientState, Message, PendingMessage, Room, SendInput, SuspendedEvent, TimelineMessage } from './types.js';
