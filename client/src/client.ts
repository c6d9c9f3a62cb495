import type { Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents, SuspendedEvent } from '../../src/contract/events.js';
import { Emitter } from './emitter.js';
import { ChatError } from './errors.js';
import { Rest, Tokens, backoff, subjectOf, type TokenSource } from './http.js';
import { Outbox } from './outbox.js';
import { ChatApi, type Presence } from './api.js';
import { openSocket, watchNetwork } from './network.js';
import { byActivity, withLastChanged, withMessage } from './room-views.js';
import { pendingMessage, tombstoneOf } from './timeline.js';
import { ChatRoom } from './room.js';
import type { ClientState, Message, Room, SendInput } from './types.js';

export interface ChatClientOptions {
  /** Where the service is, e.g. http://localhost:3000 (REST under /api/v1/chat, sockets on /chat). */
  url: string;
  token: TokenSource;
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch;
}

type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const newClientId = () => globalThis.crypto.randomUUID();

/**
 * One connection to the service for one user: one socket however many rooms are open, the user's rooms kept live, and
 * each open room's timeline kept equal to the server's through any disconnect. `state` tells a UI where it stands.
 */

export class ChatClient extends Emitter<{
  state: (state: ClientState) => void;
  rooms: (rooms: Room[]) => void;
  presence: (userId: string, presence: Presence) => void;
  /** The server's `suspended` event, as it came: the user was suspended, or connected while suspended. */
  suspended: (event: SuspendedEvent) => void;
}> {
  state: ClientState = 'connecting';
  userId = '';
  private readonly tokens: Tokens;
  private readonly rest: Rest;
  private readonly outbox: Outbox;
  /** Every REST call beyond an open room's timeline (rooms, people, search, support queue, settings, push). */
  readonly api: ChatApi;
  private socket: ChatSocket | undefined;
  private readonly roomViews = new Map<string, Room>();
  private readonly open = new Map<string, ChatRoom>();
  private readonly opening = new Map<string, Promise<ChatRoom>>();
  /** Online state of the people in the rooms opened so far, kept from user_online / user_offline. */
  readonly presence = new Map<string, Presence>();
  private heldSuspension: SuspendedEvent | null = null;
  private waitingOnline: Array<() => void> = [];
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private connectAttempts = 0;
  private everConnected = false;
  private stopWatchingNetwork: (() => void) | undefined;

  constructor(private readonly options: ChatClientOptions) {
    super();
    if (!options || typeof options.url !== 'string' || !/^https?:\/\//.test(options.url)) {
      throw new ChatError('VALIDATION_FAILED', 'url must be the http(s) address of the service');
    }
    if (typeof options.token !== 'string' && typeof options.token !== 'function') {
      throw new ChatError('VALIDATION_FAILED', 'token must be a string or a function that returns one');
    }
    const base = options.url.replace(/\/+$/, '');
    this.tokens = new Tokens(options.token);
    this.rest = new Rest(base, this.tokens, options.fetch);
    this.outbox = new Outbox(this.rest, {
      online: () => this.whenOnline(),
      stored: (roomId, m) => {
        this.open.get(roomId)?.applyOwn(m);
        this.noteMessage(m);
      },
      refused: (roomId, clientMessageId) => this.open.get(roomId)?.dropPending(clientMessageId),
    });
    this.api = new ChatApi(this.rest, {
      changed: (room) => this.putRoom(room),
      left: (roomId) => this.forget(roomId),
    });
  }

  /** The user's rooms, latest activity first, kept live. */
  get rooms(): Room[] {
    return byActivity([...this.roomViews.values()]);
  }

  /** The suspension the server last told of (`suspended`, repeated on every connection while in force), until it ends. */
  get suspension(): SuspendedEvent | null {
    const s = this.heldSuspension;
    return s?.until && Date.parse(s.until) <= Date.now() ? null : s;
  }

  /** Resolves at the first `live`; rejects on UNAUTHORIZED. */
  async connect(): Promise<void> {
    if (this.state === 'closed') throw new ChatError('CLOSED', 'the client is closed');
    if (this.socket) return this.live();
    this.userId = subjectOf(await this.tokens.get());
    // Every reconnection asks a token function afresh: a long-lived tab never comes back on a stale token.
    const socket: ChatSocket = openSocket(
      this.options.url,
      (cb) =>
        void this.tokens.get(this.everConnected).then(
          (token) => cb({ token }),
          () => cb({}),
        ),
    );
    this.socket = socket;
    this.listen(socket);
    this.stopWatchingNetwork = watchNetwork(
      () => {
        if (this.state === 'closed') return;
        socket.disconnect();
        this.setState('offline');
      },
      () => {
        if (this.state === 'closed' || socket.connected) return;
        this.rest.retryStalled();
        socket.connect();
      },
    );
    const first = new Promise<void>((resolve, reject) => {
      const settle = (err?: ChatError) => {
        offState();
        offError();
        if (err) reject(err);
        else resolve();
      };
      const offState = this.on('state', (s) => {
        if (s === 'live') settle();
        if (s === 'closed') settle(new ChatError('CLOSED', 'the client was closed'));
      });
      const offError = this.onConnectError((err) => settle(err));
    });
    socket.connect();
    return first;
  }

  private readonly connectErrorListeners = new Set<(err: ChatError) => void>();
  private onConnectError(fn: (err: ChatError) => void): () => void {
    this.connectErrorListeners.add(fn);
    return () => this.connectErrorListeners.delete(fn);
  }

  private listen(socket: ChatSocket): void {
    // Each connection hears `suspended` again while one is in force: the one held may have been lifted meanwhile.
    socket.on('connect', () => {
      this.heldSuspension = null;
      void this.caughtUp();
    });
    socket.on('suspended', (e) => {
      this.heldSuspension = e;
      this.emit('suspended', e);
    });
    socket.on('disconnect', (reason) => {
      if (this.state === 'closed') return;
      this.setState('offline');
      // The server let go on purpose (token expiry, a restart): Socket.IO does not come back by itself then.
      if (reason === 'io server disconnect') this.retryConnect();
    });
    socket.on('connect_error', (err) => void this.connectFailed(err));
    socket.on('new_message', (m, ack) => {
      if (typeof ack === 'function') ack();
      this.open.get(m.chatRoomId)?.onNewMessage(m);
      this.noteMessage(m);
    });
    socket.on('message_updated', (m) => {
      this.open.get(m.chatRoomId)?.onUpdated(m);
      this.notePreview(m.chatRoomId, m.id, () => m);
    });
    socket.on('message_deleted', (e) => {
      this.open.get(e.chatRoomId)?.onDeleted(e);
      this.notePreview(e.chatRoomId, e.id, (last) => tombstoneOf(last, e));
    });
    socket.on('reaction_updated', (e) => this.open.get(e.chatRoomId)?.onReaction(e));
    socket.on('user_typing', (e) => this.open.get(e.chatRoomId)?.onTyping(e.userId, e.isTyping));
    socket.on('message_delivered', (e) => this.open.get(e.chatRoomId)?.onDelivered(e.userId, e.lastDeliveredSeq));
    socket.on('message_read', (e) => {
      this.open.get(e.chatRoomId)?.onRead(e.userId, e.lastReadSeq);
      if (e.userId === this.userId) this.markedRead(e.chatRoomId, e.lastReadSeq);
    });
    socket.on('user_online', (e) => this.setPresence(e.userId, { online: true, lastSeenAt: null }));
    socket.on('user_offline', (e) => this.setPresence(e.userId, { online: false, lastSeenAt: e.lastSeenAt }));
    socket.on('room_created', (room) => this.putRoom(room));
    socket.on('room_updated', (room) => this.putRoom(room));
    socket.on('participant_added', (e) => this.putRoom(e.room));
    socket.on('participant_removed', (e) => {
      if (e.userId !== this.userId) return void this.refreshRoom(e.chatRoomId);
      this.forget(e.chatRoomId);
    });
  }

  private async connectFailed(err: Error): Promise<void> {
    if (this.state === 'closed') return;
    if (err.message === 'UNAUTHORIZED') {
      // Asked again once; a source that keeps giving refused tokens ends the attempt.
      if (typeof this.options.token === 'function' && this.connectAttempts++ < 2) {
        await this.tokens.get(true).catch(() => {});
        return this.retryConnect();
      }
      const refusal = new ChatError('UNAUTHORIZED', 'the service refused the token', 401);
      for (const fn of [...this.connectErrorListeners]) fn(refusal);
      return;
    }
    // A refusal by the server's middleware (RATE_LIMITED, UNAVAILABLE) is not retried by Socket.IO itself.
    if (!this.socket?.active) this.retryConnect();
  }

  private retryConnect(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.socket?.connect(), backoff(Math.min(this.connectAttempts, 4)));
  }

  /** After every (re)connection: the room list and every open room converge, then `live`. */
  private async caughtUp(): Promise<void> {
    this.connectAttempts = 0;
    // Requests sent while the network was gone may hang on a dead connection: they go again now, sends included.
    if (this.everConnected) this.rest.retryStalled();
    this.everConnected = true;
    this.setState('catching_up');
    try {
      await Promise.all([this.refreshRooms(), ...[...this.open.values()].map((r) => r.sync())]);
      if (this.socket?.connected && this.state === 'catching_up') this.setState('live');
    } catch {
      // Lost the connection again mid-way: the next connect catches up.
      if (this.socket?.connected && this.state !== 'closed') setTimeout(() => void this.caughtUp(), 1000);
    }
  }

  private setState(state: ClientState): void {
    if (this.state === state) return;
    this.state = state;
    if (state === 'live' || state === 'catching_up') this.waitingOnline.splice(0).forEach((r) => r());
    this.emit('state', state);
  }

  private whenOnline(): Promise<void> {
    if (this.state === 'live' || this.state === 'catching_up' || this.state === 'closed') return Promise.resolve();
    return new Promise((resolve) => this.waitingOnline.push(resolve));
  }

  private live(): Promise<void> {
    if (this.state === 'live') return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.on('state', (s) => s === 'live' && (off(), resolve()));
    });
  }

  private async refreshRooms(): Promise<void> {
    const seen = new Map<string, Room>();
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : '?limit=100';
      const page = (await this.rest.request<{ data: Room[]; nextCursor: string | null }>('GET', `/rooms${query}`)).body;
      for (const room of page.data) seen.set(room.id, room);
      cursor = page.nextCursor;
    } while (cursor);
    this.roomViews.clear();
    for (const [id, room] of seen) {
      this.roomViews.set(id, room);
      this.open.get(id)?.takePositions(room.participants);
    }
    this.emit('rooms', this.rooms);
    // Presence dots beside direct rooms: a nicety, never a reason for the refresh to fail.
    const partners = [...seen.values()].filter((r) => r.type === 'direct').flatMap((r) => r.participants.map((p) => p.userId));
    await this.loadPresence([...new Set(partners)]).catch(() => {});
  }

  private async refreshRoom(roomId: string): Promise<void> {
    try {
      this.putRoom((await this.rest.request<Room>('GET', `/rooms/${encodeURIComponent(roomId)}`)).body);
    } catch {
      // Gone or hidden now: the next full refresh settles it.
    }
  }

  private forget(roomId: string): void {
    if (!this.roomViews.delete(roomId)) return;
    this.emit('rooms', this.rooms);
  }

  /** A stored message moves its room's entry: last message, lastSeq, unread count. */
  private noteMessage(m: Message): void {
    const room = this.roomViews.get(m.chatRoomId);
    const next = room && withMessage(room, m, this.userId);
    if (next) this.putRoom(next);
  }

  private notePreview(roomId: string, messageId: string, next: (last: Message) => Message): void {
    const room = this.roomViews.get(roomId);
    const changed = room && withLastChanged(room, messageId, next, this.userId);
    if (changed) this.putRoom(changed);
  }

  private putRoom(room: Room): void {
    const known = this.roomViews.has(room.id);
    this.roomViews.set(room.id, room);
    this.open.get(room.id)?.takePositions(room.participants);
    // A direct room that just appeared: whether its other person is online is not known yet (user_online came before).
    if (!known && room.type === 'direct' && this.state !== 'closed') {
      const unknown = room.participants.map((p) => p.userId).filter((id) => !this.presence.has(id));
      void this.loadPresence(unknown).catch(() => {});
    }
    this.emit('rooms', this.rooms);
  }

  private setPresence(userId: string, presence: Presence): void {
    this.presence.set(userId, presence);
    this.emit('presence', userId, presence);
  }

  /** Who of these users is online now (those who share a room with the user), into `presence`. */
  private async loadPresence(userIds: string[]): Promise<void> {
    const others = userIds.filter((id) => id !== this.userId).slice(0, 200);
    if (others.length === 0) return;
    for (const p of await this.api.presence(others)) this.setPresence(p.userId, { online: p.online, lastSeenAt: p.lastSeenAt });
  }

  /** @internal */
  markedRead(roomId: string, lastReadSeq: number): void {
    const room = this.roomViews.get(roomId);
    if (!room) return;
    const participants = room.participants.map((p) =>
      p.userId === this.userId ? { ...p, lastReadSeq: Math.max(p.lastReadSeq, lastReadSeq) } : p,
    );
    this.putRoom({ ...room, participants, unreadCount: Math.max(0, room.lastSeq - lastReadSeq) });
  }

  /** The room `openRoom` has opened or is opening (its `loaded` says whether the latest page is held yet). */
  room(roomId: string): ChatRoom | undefined {
    return this.open.get(roomId);
  }

  /**
   * Follows one room: the latest page, then live. Opening it again gives the same object; while it is being opened,
   * the same open (resolved once the room is loaded, or rejected with its error).
   */
  async openRoom(roomId: string): Promise<ChatRoom> {
    if (typeof roomId !== 'string' || roomId === '') throw new ChatError('VALIDATION_FAILED', 'roomId must be a room id');
    if (this.state === 'closed') throw new ChatError('CLOSED', 'the client is closed');
    const underWay = this.opening.get(roomId);
    if (underWay) return underWay;
    const held = this.open.get(roomId);
    if (held) return held;
    const opening = this.openNew(roomId).finally(() => this.opening.delete(roomId));
    this.opening.set(roomId, opening);
    return opening;
  }

  private async openNew(roomId: string): Promise<ChatRoom> {
    // Opened before connect() has read the token (a page restoring its last room): the timeline needs to know who "own" is.
    if (!this.userId) this.userId = subjectOf(await this.tokens.get());
    const room = new ChatRoom(roomId, {
      rest: this.rest,
      userId: this.userId,
      send: (id, input) => this.send(id, input),
      emitTyping: (id, typing) => this.socket?.emit(typing ? 'typing_start' : 'typing_stop', { chatRoomId: id }),
      roomView: (id) => this.roomViews.get(id),
      markedRead: (id, seq) => this.markedRead(id, seq),
    });
    this.open.set(roomId, room);
    // Presence is a nicety: a failure to read it does not keep the room from opening. With the room's entry held it
    // is read beside the room's own requests.
    const presenceOf = (view: Room) => this.loadPresence(view.participants.map((p) => p.userId)).catch(() => {});
    const entry = this.roomViews.get(roomId);
    const presence = entry && presenceOf(entry);
    try {
      const view = await room.load();
      // A room created a moment ago may be opened before its room_created event arrives.
      if (!this.roomViews.has(roomId)) this.putRoom(view);
      await (presence ?? presenceOf(view));
    } catch (err) {
      this.open.delete(roomId);
      room.dispose();
      throw err;
    }
    return room;
  }

  /** Optimistic: a pending copy shows at once; resolves with the stored message, after any number of retries. */
  send(roomId: string, input: SendInput): Promise<Message> {
    if (!input || typeof input.content !== 'string') {
      return Promise.reject(new ChatError('VALIDATION_FAILED', 'content must be a string (it may be empty with files)'));
    }
    const clientMessageId = newClientId();
    const pending = pendingMessage(roomId, this.userId, clientMessageId, input);
    this.open.get(roomId)?.addPending(pending);
    return this.outbox.enqueue(roomId, clientMessageId, input);
  }

  /** Stops everything: the socket, timers, open rooms; sends still queued reject with CLOSED. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.setState('closed');
    clearTimeout(this.retryTimer);
    this.outbox.close();
    this.rest.close();
    this.waitingOnline.splice(0).forEach((r) => r());
    for (const room of this.open.values()) room.dispose();
    this.open.clear();
    this.stopWatchingNetwork?.();
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = undefined;
    this.removeAllListeners();
  }
}
