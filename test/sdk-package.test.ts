import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient, ChatError, claimsOf } from 'chat-service/client';
import { mintToken } from '../src/auth/tokens.js';
import { Rest, Tokens, Waits } from '../client/src/http.js';
import { Timeline } from '../client/src/timeline.js';
import type { Message } from '../client/src/types.js';
import { startTestApp, type TestApp } from './helpers/app.js';

describe('chat-service/client as a package', () => {
  it('resolves from a module inside the checkout, built with its types by the install', async () => {
    const mod = await import('chat-service/client');
    expect(typeof mod.ChatClient).toBe('function');
    expect(typeof mod.ChatError).toBe('function');
    const types = fileURLToPath(new URL('../client/dist/client/src/index.d.ts', import.meta.url));
    expect(existsSync(types)).toBe(true);
  });

  it('reads a token’s claims as UTF-8: a user id and name beyond ASCII come out as written', async () => {
    const token = await mintToken('a-secret-of-at-least-32-characters!!', 'zoë-李', { name: 'Zoë Ångström 🚀' });
    const claims = claimsOf(token);
    expect(claims.sub).toBe('zoë-李');
    expect(claims.name).toBe('Zoë Ångström 🚀');
    expect(claimsOf('not-a-jwt')).toEqual({});
  });

  it('throws a typed error for wrong arguments', () => {
    const bad = [
      () => new ChatClient({ url: 'localhost:3000', token: 't' }),
      () => new ChatClient({ url: 'http://x', token: 42 as never }),
    ];
    for (const make of bad) {
      expect(make).toThrow(ChatError);
      try {
        make();
      } catch (err) {
        expect((err as ChatError).code).toBe('VALIDATION_FAILED');
      }
    }
  });
});

describe('ChatClient.connect', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.close());

  it('rejects with UNAUTHORIZED for a token the service refuses, and leaves nothing running', async () => {
    const forged = `${btoa(JSON.stringify({ alg: 'HS256' }))}.${btoa(JSON.stringify({ sub: 'eve' }))}.c2ln`;
    const client = new ChatClient({ url: t.baseUrl, token: forged });
    await expect(client.connect()).rejects.toMatchObject({ name: 'ChatError', code: 'UNAUTHORIZED' });
    await client.close();
    expect(client.state).toBe('closed');
  });
});

const msg = (seq: number, changeSeq: number, over: Partial<Message> = {}): Message => ({
  id: `m${seq}`,
  chatRoomId: 'r',
  seq,
  senderId: 'bob',
  type: 'text',
  content: `#${seq}`,
  mentions: [],
  replyToId: null,
  replyTo: null,
  media: [],
  clientMessageId: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  editedAt: null,
  deletedAt: null,
  deletedBy: null,
  changeSeq,
  pinnedAt: null,
  pinnedBy: null,
  reactions: [],
  ...over,
});

describe('Timeline', () => {
  it('keeps the higher changeSeq whatever order copies arrive in, each message once', () => {
    const tl = new Timeline('me');
    tl.reset([msg(1, 1), msg(2, 2)], 0);
    expect(tl.apply(msg(2, 5, { content: 'edited' }))).toBe('changed');
    expect(tl.apply(msg(2, 2))).toBe('same');
    expect(tl.apply(msg(3, 3))).toBe('changed');
    expect(tl.apply(msg(3, 3))).toBe('same');
    expect(tl.messages().map((m) => [m.seq, m.content])).toEqual([
      [1, '#1'],
      [2, 'edited'],
      [3, '#3'],
    ]);
  });

  it('reports a new message beyond the newest held as a gap, and one below the oldest as outside', () => {
    const tl = new Timeline('me');
    tl.reset([msg(5, 5), msg(6, 6)], 4);
    expect(tl.apply(msg(8, 8))).toBe('gap');
    expect(tl.apply(msg(4, 4))).toBe('outside');
    expect(tl.messages().map((m) => m.seq)).toEqual([5, 6]);
  });

  it('replaces a pending send by its stored copy, never beside it', () => {
    const tl = new Timeline('me');
    tl.reset([msg(1, 1)], 0);
    const stored = msg(2, 2, { senderId: 'me', clientMessageId: 'c1', id: 'real' });
    tl.addPending({ ...stored, id: 'pending:c1', seq: null, pending: true, changeSeq: 0 });
    expect(tl.messages().map((m) => m.id)).toEqual(['m1', 'pending:c1']);
    tl.apply(stored);
    expect(tl.messages().map((m) => m.id)).toEqual(['m1', 'real']);
  });

  it('keeps the user’s own reactions through broadcasts, and follows reaction events', () => {
    const tl = new Timeline('me');
    tl.reset([msg(1, 1, { reactions: [{ emoji: '👍', count: 1, me: true }] })], 0);
    tl.apply(msg(1, 2, { content: 'edited', reactions: [{ emoji: '👍', count: 1, me: false }] }), true);
    expect(tl.get('m1')!.reactions).toEqual([{ emoji: '👍', count: 1, me: true }]);
    const reactions = [
      { emoji: '👍', count: 1 },
      { emoji: '🎉', count: 1 },
    ];
    tl.applyReaction({ chatRoomId: 'r', messageId: 'm1', changeSeq: 3, emoji: '🎉', userId: 'bob', added: true, count: 1, reactions });
    expect(tl.get('m1')!.reactions).toEqual([
      { emoji: '👍', count: 1, me: true },
      { emoji: '🎉', count: 1, me: false },
    ]);
    // An older event changes nothing.
    tl.applyReaction({ chatRoomId: 'r', messageId: 'm1', changeSeq: 2, emoji: '👍', userId: 'me', added: false, count: 0, reactions: [] });
    expect(tl.get('m1')!.reactions).toHaveLength(2);
  });

  it('turns a deleted message into a tombstone in its place', () => {
    const tl = new Timeline('me');
    tl.reset([msg(1, 1), msg(2, 2, { reactions: [{ emoji: '👍', count: 2, me: false }], pinnedAt: '2026-01-01T00:00:00.000Z' })], 0);
    tl.applyDeleted({ chatRoomId: 'r', id: 'm2', seq: 2, changeSeq: 7, deletedAt: '2026-01-02T00:00:00.000Z', deletedBy: 'bob' });
    const tomb = tl.messages()[1]!;
    expect(tomb).toMatchObject({ seq: 2, content: '', reactions: [], pinnedAt: null, deletedBy: 'bob', changeSeq: 7 });
  });
});

describe('Rest (the SDK’s HTTP)', () => {
  const answer = (status: number, body: unknown = {}, headers: Record<string, string> = {}) =>
    new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

  function scripted(...answers: Array<Response | Error>) {
    const calls: Array<{ url: string; auth: string | null }> = [];
    const fetchFn = (async (url: string, init: RequestInit) => {
      calls.push({ url, auth: new Headers(init.headers).get('authorization') });
      const next = answers.shift();
      if (!next) throw new Error('no more answers');
      if (next instanceof Error) throw next;
      return next;
    }) as unknown as typeof fetch;
    return { calls, fetchFn };
  }

  it('retries a 503 and a network failure, then answers', async () => {
    const { calls, fetchFn } = scripted(answer(503), new TypeError('fetch failed'), answer(200, { ok: 1 }));
    const rest = new Rest('http://svc', new Tokens('t'), fetchFn);
    await expect(rest.request('GET', '/rooms')).resolves.toEqual({ status: 200, body: { ok: 1 } });
    expect(calls.map((c) => c.url)).toEqual(Array(3).fill('http://svc/api/v1/chat/rooms'));
  });

  it('waits for Retry-After on 429 before trying again', async () => {
    const { calls, fetchFn } = scripted(answer(429, { code: 'RATE_LIMITED' }, { 'retry-after': '1' }), answer(200, {}));
    const rest = new Rest('http://svc', new Tokens('t'), fetchFn);
    const started = Date.now();
    await rest.request('POST', '/rooms/r/messages', { body: {}, persistent: true });
    expect(calls).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('turns a refusal into a ChatError with the server’s code, without retrying', async () => {
    const { calls, fetchFn } = scripted(answer(400, { code: 'VALIDATION_FAILED', detail: 'content must not be empty' }));
    const rest = new Rest('http://svc', new Tokens('t'), fetchFn);
    await expect(rest.request('POST', '/rooms/r/messages', { body: {}, persistent: true })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      status: 400,
      message: 'content must not be empty',
    });
    expect(calls).toHaveLength(1);
  });

  it('asks a token function again after a 401, once', async () => {
    const { calls, fetchFn } = scripted(
      answer(401, { code: 'UNAUTHORIZED' }),
      answer(200, {}),
      answer(401, { code: 'UNAUTHORIZED' }),
      answer(401),
    );
    let n = 0;
    const rest = new Rest('http://svc', new Tokens(async () => `token-${++n}`), fetchFn);
    await rest.request('GET', '/rooms');
    expect(calls.map((c) => c.auth)).toEqual(['Bearer token-1', 'Bearer token-2']);
    await expect(rest.request('GET', '/rooms')).rejects.toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
  });
});

describe('Waits (the SDK’s retry pauses)', () => {
  it('ends every pause at once when cleared, and starts none after', async () => {
    const waits = new Waits();
    const started = Date.now();
    const paused = Promise.all([waits.wait(60_000), waits.wait(30_000)]);
    waits.clear();
    await paused;
    await waits.wait(60_000);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
