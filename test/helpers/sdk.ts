import { expect } from 'vitest';
// Until the package build exposes `chat-service/client`, the SDK is taken from its TypeScript sources (tsx/vitest run them).
import { ChatClient, ChatError } from 'chat-service/client';
import type { MintOptions } from '../../src/auth/tokens.js';
import { startTestApp, type Client, type TestApp } from './app.js';
import { fullHistory } from './changes.js';
import { startProxy, type Proxy } from './proxy.js';

export { ChatClient, ChatError };

export type SdkRoom = Awaited<ReturnType<ChatClient['openRoom']>>;

/** The app, with writes unthrottled (tests send bursts), and a TCP proxy in front whose link a test can cut. */
export interface SdkApp {
  t: TestApp;
  proxy: Proxy;
  /** The app's address through the proxy: what an SDK client under test is given. */
  url: string;
  close(): Promise<void>;
}

export async function startSdkApp(env: Record<string, string> = {}): Promise<SdkApp> {
  const t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '1000000', ...env });
  const proxy = await startProxy('127.0.0.1', Number(new URL(t.baseUrl).port));
  return {
    t,
    proxy,
    url: `http://127.0.0.1:${proxy.port}`,
    async close() {
      await proxy.close();
      await t.close();
    },
  };
}

/** Clients a file made, closed after it even when a test failed half-way. */
export class ClientPool {
  private readonly clients: ChatClient[] = [];

  make(url: string, token: string | (() => Promise<string>)): ChatClient {
    const client = new ChatClient({ url, token });
    this.clients.push(client);
    return client;
  }

  /** A user's REST client on `s`, and an SDK client of theirs (through the proxy) connected and live. */
  async live(s: SdkApp, userId: string, opts?: MintOptions): Promise<{ rest: Client; client: ChatClient }> {
    const rest = await s.t.as(userId, opts);
    const client = this.make(s.url, rest.token);
    await client.connect();
    return { rest, client };
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close().catch(() => {})));
  }
}

/**
 * What "equal to the server" covers (API.md, Client SDK): signed media URLs and the read-time `replyTo` view are left
 * out; `pending` is kept so a pending copy never passes for a stored message.
 */
export function comparable(m: any): unknown {
  return {
    id: m.id,
    seq: m.seq,
    senderId: m.senderId,
    content: m.content,
    mentions: m.mentions,
    editedAt: m.editedAt,
    deletedAt: m.deletedAt,
    pinnedAt: m.pinnedAt,
    reactions: (m.reactions ?? []).map((r: any) => ({ emoji: r.emoji, count: r.count, me: r.me })),
    pending: m.pending === true,
  };
}

/** Polls until `check` holds, or throws after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`${what} not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits (bounded) until the room's messages equal `expected` (read again on every poll); on timeout fails with the
 * difference. Answers what the server held.
 */
export async function converged(room: SdkRoom, expected: () => Promise<any[]>, ms = 10_000): Promise<any[]> {
  const until = Date.now() + ms;
  for (;;) {
    const server = await expected();
    const held = room.messages.map(comparable);
    const want = server.map(comparable);
    if (JSON.stringify(held) === JSON.stringify(want)) return server;
    if (Date.now() > until) {
      expect(held).toEqual(want);
      return server;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The whole stored history of a room as `reader` sees it (so `reactions[].me` is the reader's). */
export const historyOf = (reader: Client, roomId: string) => () => fullHistory(reader, roomId);

/** Copies of `room.messages` at every 'change': what a UI rendered along the way. */
export function snapshots(room: SdkRoom): any[][] {
  const seen: any[][] = [];
  room.on('change', () => seen.push(room.messages.map((m: any) => ({ ...m }))));
  return seen;
}

/** The server-side sockets of one user on this instance. */
export function serverSocketsOf(t: TestApp, userId: string) {
  return [...t.app.chat.sockets.values()].filter((s) => s.data.auth?.userId === userId);
}

/** A promise's outcome without an unhandled rejection while the test is busy elsewhere. */
export function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Every state a client goes through, and the stored (non-pending) messages its room held at each 'live': what a UI
 * showed as "up to date".
 */
export function watchStates(client: ChatClient, room: () => SdkRoom | undefined): { states: string[]; atLive: unknown[][] } {
  const states: string[] = [];
  const atLive: unknown[][] = [];
  client.on('state', () => {
    states.push(client.state);
    const r = room();
    if (client.state === 'live' && r) atLive.push(r.messages.filter((m: any) => m.pending !== true).map(comparable));
  });
  return { states, atLive };
}
