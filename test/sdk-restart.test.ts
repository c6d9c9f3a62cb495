import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import { request, TEST_JWT_SECRET, type Client, type Res } from './helpers/app.js';
import { deleteMessage, editMessage, react } from './helpers/changes.js';
import { freshDatabase } from './helpers/databases.js';
import { buildMessage, buildMessages, buildRoom } from './helpers/factories.js';
import { startService, type ServiceProcess } from './helpers/process.js';
import {
  ChatClient,
  ClientPool,
  converged,
  eventually,
  historyOf,
  serverSocketsOf,
  settle,
  sleep,
  startSdkApp,
  watchStates,
  type SdkApp,
  type SdkRoom,
} from './helpers/sdk.js';

const pool = new ClientPool();
afterEach(async () => pool.closeAll());
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Settings for service processes on fresh data of this run's engine (a data dir, or a database of their own). */
async function serviceEnv(): Promise<Record<string, string>> {
  const template = inject('template');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-sdk-restart-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = { DATA_DIR: dataDir, JWT_SECRET: TEST_JWT_SECRET, RATE_LIMIT_WRITES_PER_MINUTE: '1000000' };
  if (template.kind === 'postgres') {
    const db = await freshDatabase(template);
    await db.database.close(); // the service processes own the connections
    cleanups.push(() => db.drop());
    env['DATABASE_URL'] = db.url!;
  }
  return env;
}

/** A user's REST client for a service process (what TestApp.as gives for an in-process app). */
async function restAt(baseUrl: string, userId: string): Promise<Client> {
  const token = await mintToken(TEST_JWT_SECRET, userId);
  const call =
    (method: string) =>
    (p: string, body?: unknown): Promise<Res> =>
      request(baseUrl, p, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
  return {
    userId,
    token,
    get: (p) => call('GET')(p),
    post: call('POST'),
    patch: call('PATCH'),
    put: call('PUT'),
    delete: (p) => call('DELETE')(p),
    raw: (p, init) => request(baseUrl, p, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } }),
  };
}

/**
 * Another user sending without pause, as a client that retries by clientMessageId does: a send that got no answer
 * (the process died, or was not up yet) goes again with the same id until one comes.
 */
class Stream {
  readonly acked: Array<{ i: number; id: string; seq: number }> = [];
  unanswered = 0;
  readonly refused: string[] = [];
  private stopping = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly sender: Client,
    private readonly roomId: string,
  ) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    for (let i = 0; !this.stopping;) {
      let res: Res;
      try {
        res = await this.sender.post(`/rooms/${this.roomId}/messages`, { content: `bob ${i}`, clientMessageId: `bob-${i}` });
      } catch {
        this.unanswered++;
        await sleep(100);
        continue;
      }
      if (res.status === 201 || res.status === 200) {
        this.acked.push({ i: i++, id: res.body.id, seq: res.body.seq });
        await sleep(20);
      } else if (res.status >= 500) {
        this.unanswered++;
        await sleep(100);
      } else {
        this.refused.push(`bob ${i}: ${res.status} ${JSON.stringify(res.body)}`);
        return;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
  }
}

const mine = (i: number) => `mine ${i}`;

/**
 * A fetch for the client under test that kills the service the moment it has stored the client's first send in
 * `roomId`, before the answer gets out: the send is committed and the client does not know it (what its
 * clientMessageId is for). `lost` is the answer the client never saw.
 */
function dyingFetch(roomId: string, kill: () => Promise<unknown>) {
  const state: { killing?: Promise<unknown>; lost?: { status: number; body: any } } = {};
  const fetchFn: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (state.killing || init?.method !== 'POST' || !String(input).endsWith(`/rooms/${roomId}/messages`)) return res;
    state.lost = { status: res.status, body: await res.json() };
    state.killing = kill();
    throw new TypeError('fetch failed: the connection was reset');
  };
  return { fetchFn, state };
}

describe('the server killed and restarted on the same data', () => {
  it('goes offline, reconnects to the restarted server, converges, and stores each of its sends once, in order', async () => {
    const env = await serviceEnv();
    let svc: ServiceProcess | undefined = await startService(env);
    const url = svc.url;
    cleanups.push(async () => void (await svc?.kill('SIGKILL')));
    const alice = await restAt(url, 'kill-alice');
    const bob = await restAt(url, 'kill-bob');
    const roomId = (await buildRoom(bob, { participantIds: [alice.userId] })).id;
    const early = await buildMessages(bob, roomId, 5);
    const dying = dyingFetch(roomId, () => svc!.kill('SIGKILL'));
    const client = new ChatClient({ url, token: alice.token, fetch: dying.fetchFn });
    cleanups.push(() => client.close());
    const ref: { room?: SdkRoom } = {};
    const { states } = watchStates(client, () => ref.room);
    await client.connect();
    const room = (ref.room = await client.openRoom(roomId));
    await converged(room, historyOf(alice, roomId));

    const stream = new Stream(bob, roomId);
    await eventually(() => stream.acked.length >= 20, 20_000, "20 of the other user's sends stored before the kill");
    const sends = [settle(room.send({ content: mine(0) })), settle(room.send({ content: mine(1) }))];
    await eventually(() => dying.state.killing !== undefined, 10_000, 'the kill at the first send');
    await dying.state.killing;
    svc = undefined;
    const ackedAtKill = stream.acked.length;
    const unansweredAtKill = stream.unanswered;
    await eventually(() => client.state === 'offline', 15_000, 'offline after the kill');
    for (let i = 2; i < 5; i++) sends.push(settle(room.send({ content: mine(i) })));
    // mine 0 may already show as stored (its new_message may have left before the kill), never twice.
    expect(room.messages.filter((m: any) => m.content === mine(0))).toHaveLength(1);
    expect(room.messages.slice(-4).map((m: any) => [m.pending, m.seq, m.content])).toEqual([1, 2, 3, 4].map((i) => [true, null, mine(i)]));
    await sleep(1000);
    expect(client.state).toBe('offline');
    expect(stream.unanswered).toBeGreaterThan(unansweredAtKill);

    // The restart listens where the first process did: the client's URL stays the same.
    svc = await startService({ ...env, PORT: new URL(url).port });
    expect(svc.url).toBe(url);
    await eventually(() => stream.acked.length >= ackedAtKill + 20, 30_000, "20 of the other user's sends stored after the restart");
    // Changes after the restart to messages from before it: the change log goes on where it was.
    expect((await editMessage(bob, early[1]!.id, { content: 'edited after the restart' })).status).toBe(200);
    expect((await react(bob, early[2]!.id, '🎉')).status).toBe(200);
    expect((await deleteMessage(bob, early[3]!.id)).status).toBe(200);
    const results = await Promise.all(sends);
    await eventually(() => client.state === 'live', 30_000, 'live after the restart');
    await stream.stop();
    expect(stream.refused).toEqual([]);
    const server = await converged(room, historyOf(alice, roomId), 30_000);

    const stored = server.filter((m) => m.senderId === alice.userId);
    expect(stored.map((m) => m.content)).toEqual([0, 1, 2, 3, 4].map(mine));
    expect(results.map((r) => (r.ok ? (r.value as any).id : r.error))).toEqual(stored.map((m) => m.id));
    // The send whose answer was lost is the one stored before the kill, resolved with that message.
    expect(dying.state.lost).toMatchObject({ status: 201, body: { id: stored[0]!.id, content: mine(0) } });
    expectStreamStoredOnce(server, stream, bob.userId);
    expect(new Set(room.messages.map((m: any) => m.id)).size).toBe(room.messages.length);
    expect(room.messages.some((m: any) => m.pending === true)).toBe(false);
    const after = states.slice(states.indexOf('offline'));
    expect(after).toContain('catching_up');
    expect(after.indexOf('catching_up')).toBeLessThan(after.lastIndexOf('live'));
  }, 120_000);
});

/** The other user's sends, retried across the kill: each stored once, in the order sent, as acknowledged; seq dense. */
function expectStreamStoredOnce(server: any[], stream: Stream, senderId: string): void {
  const theirs = server.filter((m) => m.senderId === senderId && m.content.startsWith('bob '));
  expect(theirs.map((m) => m.content)).toEqual(stream.acked.map((a) => `bob ${a.i}`));
  expect(theirs.map((m) => m.id)).toEqual(stream.acked.map((a) => a.id));
  expect(server.map((m) => m.seq)).toEqual(server.map((_, i) => i + 1));
}

/** The `exp` of a JWT, in epoch seconds. */
const expOf = (token: string): number => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;
const until = (at: number) => sleep(Math.max(0, at - Date.now()));
type Sent = ReturnType<typeof settle>;

/**
 * One expiry of the client's socket token: sends 150 ms before it, at it and 150 ms after it, while the other user
 * sends at it too; then waits for the server to let the socket go and the client to notice. Answers the token.
 */
async function aroundExpiry(s: SdkApp, room: SdkRoom, bob: Client, round: number, states: string[], sends: Sent[]): Promise<string> {
  const onOne = () => serverSocketsOf(s.t, 'exp-alice').length === 1;
  await eventually(() => states.at(-1) === 'live' && onOne(), 15_000, 'live on one socket');
  const [socket] = serverSocketsOf(s.t, 'exp-alice');
  const token = (socket!.handshake.auth as { token: string }).token;
  const at = expOf(token) * 1000;
  const offlineBefore = states.filter((x) => x === 'offline').length;
  await until(at - 150);
  sends.push(settle(room.send({ content: `round ${round}: before` })));
  await until(at);
  sends.push(settle(room.send({ content: `round ${round}: at` })));
  const theirs = buildMessage(bob, room.id, { content: `round ${round}: theirs` });
  await until(at + 150);
  sends.push(settle(room.send({ content: `round ${round}: after` })));
  await theirs;
  // The server let go of the socket at its token's expiry; the client saw it (and comes back by itself).
  await eventually(() => !serverSocketsOf(s.t, 'exp-alice').includes(socket!), 5_000, 'the socket disconnected at expiry');
  await eventually(() => states.filter((x) => x === 'offline').length > offlineBefore, 5_000, 'offline at expiry');
  return token;
}

describe('a token that expires mid-session', () => {
  it('is replaced after the server disconnects at expiry; sends made around the expiry are stored once each and resolve', async () => {
    const s = await startSdkApp();
    try {
      const bob = await s.t.as('exp-bob');
      const roomId = (await buildRoom(bob, { participantIds: ['exp-alice'] })).id;
      await buildMessages(bob, roomId, 3);
      const alice = await s.t.as('exp-alice');
      const issued: string[] = [];
      // Every token lives 3 to 4 s; answering takes a moment, as a call to a backend does.
      const client = pool.make(s.url, async () => {
        await sleep(100);
        const token = await s.t.token('exp-alice', { expiresIn: Math.floor(Date.now() / 1000) + 4 });
        issued.push(token);
        return token;
      });
      const ref: { room?: SdkRoom } = {};
      const { states } = watchStates(client, () => ref.room);
      await client.connect();
      const room = (ref.room = await client.openRoom(roomId));
      await converged(room, historyOf(alice, roomId));

      const sends: Sent[] = [];
      const expired = [await aroundExpiry(s, room, bob, 0, states, sends), await aroundExpiry(s, room, bob, 1, states, sends)];
      const results = await Promise.all(sends);
      const onOne = () => serverSocketsOf(s.t, 'exp-alice').length === 1;
      await eventually(() => client.state === 'live' && onOne(), 15_000, 'live after the expiries');
      const server = await converged(room, historyOf(alice, roomId), 15_000);

      const made = [0, 1].flatMap((r) => ['before', 'at', 'after'].map((w) => `round ${r}: ${w}`));
      const stored = server.filter((m) => m.senderId === 'exp-alice');
      expect(stored.map((m) => m.content)).toEqual(made);
      expect(results.map((r) => (r.ok ? (r.value as any).id : r.error))).toEqual(stored.map((m) => m.id));
      expect(new Set(room.messages.map((m: any) => m.id)).size).toBe(room.messages.length);
      expect(server.filter((m) => m.content.endsWith('theirs'))).toHaveLength(2);
      expect(server).toHaveLength(3 + 2 + made.length);
      // Each socket came on a token the function handed out afresh, never on one that had expired.
      const current = (serverSocketsOf(s.t, 'exp-alice')[0]!.handshake.auth as { token: string }).token;
      expect(issued).toContain(current);
      expect(expired).not.toContain(current);
      expect(expired[1]).not.toBe(expired[0]);
    } finally {
      await pool.closeAll();
      await s.close();
    }
  }, 60_000);
});
