import type { Rest } from './http.js';
import type { Message, Room } from './types.js';
import type { CreateRoomInput, ListRoomsInput } from '../../src/contract/rooms.js';
import type { SearchInput, SearchPageView } from '../../src/contract/search.js';
import type { OwnProfile, UpdateMeInput } from '../../src/contract/users.js';
import type { Receipts } from '../../src/contract/reads.js';
import type { EditsPageView } from '../../src/contract/messages.js';
import type { PinsPageView } from '../../src/contract/pins.js';
import type { ReactionsPageView } from '../../src/contract/reactions.js';
import type { SubscriptionInput, SubscriptionView } from '../../src/contract/notifications.js';
import type { BlocksPageView, BlockView } from '../../src/contract/blocks.js';
import type { CreateReportInput, ReportReason, ReportView } from '../../src/contract/reports.js';

export type { CreateRoomInput, SearchInput, SearchPageView, OwnProfile, Receipts, SubscriptionInput, SubscriptionView };
export type { BlocksPageView, BlockView, CreateReportInput, ReportReason, ReportView };

/**
 * The reasons a message can be reported for, in the order a UI offers them. A copy of the contract's list (the SDK
 * ships no TypeBox at run time); the check below fails the build if the two ever differ.
 */
export const REPORT_REASONS = ['spam', 'abuse', 'harassment', 'other'] as const satisfies readonly ReportReason[];
type Nothing<T extends never> = T;
type _EveryReasonListed = Nothing<Exclude<ReportReason, (typeof REPORT_REASONS)[number]>>;

/** Someone's online state as the service tells it: `lastSeenAt` once they have gone offline (null while online or hidden). */
export interface Presence {
  online: boolean;
  lastSeenAt: string | null;
}

export type RoomPatch = { name?: string | null; description?: string | null; status?: 'open' | 'closed'; slowModeS?: number };
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

const enc = encodeURIComponent;

function query(params: object): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    parts.push(`${enc(key)}=${enc(String(value))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/**
 * Everything beyond an open room's timeline, one typed method per REST call: rooms and their people, search, the
 * support queue, the user's own settings, receipts and Web Push. Room changes made here reach `client.rooms` through
 * the hook (and again through the socket events they cause, which are idempotent).
 */
export class ChatApi {
  constructor(
    private readonly rest: Rest,
    private readonly hooks: { changed(room: Room): void; left(roomId: string): void },
  ) {}

  private async room(method: string, path: string, body?: unknown): Promise<Room> {
    const res = await this.rest.request<Room | null>(method, path, body === undefined ? {} : { body });
    if (res.body) this.hooks.changed(res.body);
    return res.body as Room;
  }

  /** Creates a room, or answers the existing one (a direct pair's room, the caller's open support room). */
  createRoom(input: CreateRoomInput): Promise<Room> {
    return this.room('POST', '/rooms', input);
  }

  getRoom(roomId: string): Promise<Room> {
    return this.room('GET', `/rooms/${enc(roomId)}`);
  }

  async listRooms(params: ListRoomsInput & { scope?: 'support'; status?: 'open' | 'closed' } = {}): Promise<Page<Room>> {
    return (await this.rest.request<Page<Room>>('GET', `/rooms${query(params)}`)).body;
  }

  /** The support queue (staff only): support rooms, open ones by default. */
  supportQueue(params: { status?: 'open' | 'closed'; cursor?: string; limit?: number } = {}): Promise<Page<Room>> {
    return this.listRooms({ scope: 'support', status: 'open', ...params });
  }

  updateRoom(roomId: string, patch: RoomPatch): Promise<Room> {
    return this.room('PATCH', `/rooms/${enc(roomId)}`, patch);
  }

  addParticipants(roomId: string, userIds: string[]): Promise<Room> {
    return this.room('POST', `/rooms/${enc(roomId)}/participants`, { userIds });
  }

  /** Removes a participant; removing yourself is leaving (answers null). */
  async removeParticipant(roomId: string, userId: string): Promise<Room | null> {
    const res = await this.rest.request<Room | null>('PATCH', `/rooms/${enc(roomId)}/participants/${enc(userId)}/remove`);
    if (res.body) this.hooks.changed(res.body);
    else this.hooks.left(roomId);
    return res.body;
  }

  setMuted(roomId: string, muted: boolean, mutedUntil?: string | null): Promise<Room> {
    return this.room('PATCH', `/rooms/${enc(roomId)}/notifications`, { muted, ...(mutedUntil !== undefined ? { mutedUntil } : {}) });
  }

  async search(params: SearchInput): Promise<SearchPageView> {
    return (await this.rest.request<SearchPageView>('GET', `/messages/search${query(params)}`)).body;
  }

  async message(messageId: string): Promise<Message> {
    return (await this.rest.request<Message>('GET', `/messages/${enc(messageId)}`)).body;
  }

  async edits(messageId: string): Promise<EditsPageView> {
    return (await this.rest.request<EditsPageView>('GET', `/messages/${enc(messageId)}/edits`)).body;
  }

  async receipts(messageId: string): Promise<Receipts> {
    return (await this.rest.request<Receipts>('GET', `/messages/${enc(messageId)}/receipts`)).body;
  }

  async reactions(messageId: string, params: { emoji?: string; cursor?: string; limit?: number } = {}): Promise<ReactionsPageView> {
    return (await this.rest.request<ReactionsPageView>('GET', `/messages/${enc(messageId)}/reactions${query(params)}`)).body;
  }

  async pins(roomId: string, params: { cursor?: string; limit?: number } = {}): Promise<PinsPageView> {
    return (await this.rest.request<PinsPageView>('GET', `/rooms/${enc(roomId)}/pins${query(params)}`)).body;
  }

  async me(): Promise<OwnProfile> {
    return (await this.rest.request<OwnProfile>('GET', '/me')).body;
  }

  async updateMe(patch: UpdateMeInput): Promise<OwnProfile> {
    return (await this.rest.request<OwnProfile>('PATCH', '/me', { body: patch })).body;
  }

  /** The VAPID key a browser subscribes with (`PushManager.subscribe({ applicationServerKey })`). */
  async pushKey(): Promise<string> {
    return (await this.rest.request<{ publicKey: string }>('GET', '/push/vapid-public-key')).body.publicKey;
  }

  async subscribePush(subscription: SubscriptionInput): Promise<SubscriptionView> {
    return (await this.rest.request<SubscriptionView>('POST', '/push/subscriptions', { body: subscription })).body;
  }

  async unsubscribePush(endpoint: string): Promise<void> {
    await this.rest.request('DELETE', '/push/subscriptions', { body: { endpoint } });
  }

  /** Online state of up to 200 people who share a room with the user (others are left out of the answer). */
  async presence(userIds: string[]): Promise<Array<{ userId: string } & Presence>> {
    const ids = userIds.slice(0, 200).map(encodeURIComponent).join(',');
    return (await this.rest.request<{ data: Array<{ userId: string } & Presence> }>('GET', `/presence?userIds=${ids}`)).body.data;
  }

  /** The user stops hearing from `userId`: no new direct room, no sends in their existing one, no notifications. */
  async block(userId: string): Promise<void> {
    await this.rest.request('PUT', `/blocks/${enc(userId)}`);
  }

  /** Idempotent, like `block`: unblocking someone never blocked succeeds too. */
  async unblock(userId: string): Promise<void> {
    await this.rest.request('DELETE', `/blocks/${enc(userId)}`);
  }

  /** Whom the user blocks, latest block first. */
  async blocks(params: { cursor?: string; limit?: number } = {}): Promise<BlocksPageView> {
    return (await this.rest.request<BlocksPageView>('GET', `/blocks${query(params)}`)).body;
  }

  /**
   * Reports a message to the moderators. A second report of the same message while the first is open answers that
   * first one (the server keeps one open report per reporter and message).
   */
  async reportMessage(messageId: string, input: CreateReportInput): Promise<ReportView> {
    return (await this.rest.request<ReportView>('POST', `/messages/${enc(messageId)}/reports`, { body: input })).body;
  }
}
