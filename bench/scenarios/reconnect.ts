import { connectAll, openSocket, type ClientSocket } from '../lib/clients.js';
import { Latency, type LatencySummary } from '../lib/histogram.js';
import { pool, sleep, until } from '../lib/log.js';
import { httpJson } from '../lib/processes.js';
import type { Manifest } from '../lib/seed.js';

export interface ReconnectResult {
  variant: 'state recovery' | 'REST catch-up' | 'state recovery, Redis';
  sockets: number;
  messages: number;
  /** Missed messages × the sockets that missed them. */
  expected: number;
  /** Time from the reconnect until the last socket had every message it missed; null when some never came. */
  allArrivedMs: number | null;
  perSocket: LatencySummary;
  lost: number;
  duplicates: number;
  recovered: number;
  restCatchUps: number;
  /** The same storm against a bare Socket.IO server with recovery (state recovery only): time until all arrived. */
  bareMs?: number | null;
}

interface Client {
  userId: string;
  roomId: string;
  token: string;
  socket: ClientSocket;
  have: Set<string>;
  expected: string[];
  doneAt: number | null;
  /** Highest seq this client holds in its room. */
  lastSeq: number;
}

const TIMEOUT_MS = 30_000;

/**
 * 1k sockets (rooms of 50) drop their connection; a writer sends 100 messages meanwhile over REST; all reconnect at
 * once. First with Socket.IO connection state recovery (the transport closes, the session is kept and the server
 * replays what was not acknowledged), falling back to REST catch-up for any socket not recovered; then as after a
 * long absence: new connections that page `GET /rooms/:id/messages?after=<last seq held>`.
 */
export async function reconnectStorm(
  baseUrl: string,
  token: (u: string) => Promise<string>,
  m: Manifest,
  messages: number,
  /** Only the state-recovery storm, named `variant` (the service with Redis: its sessions and packets live there). */
  only?: { variant: ReconnectResult['variant'] },
): Promise<ReconnectResult[]> {
  const api = `${baseUrl}/api/v1/chat`;
  const writer = await token(m.reconnect.writer);
  const members = m.reconnect.rooms.flatMap((r) =>
    r.members.filter((u) => u !== m.reconnect.writer).map((u) => ({ userId: u, roomId: r.id })),
  );
  const tokens = await Promise.all(members.map((x) => token(x.userId)));
  const clients: Client[] = members.map((x, i) => ({
    ...x,
    token: tokens[i]!,
    socket: undefined as unknown as ClientSocket,
    have: new Set(),
    expected: [],
    doneAt: null,
    lastSeq: 0,
  }));
  const track = tracker(clients);
  const { attach } = track;
  const catchUp = async (c: Client, after: number) => {
    for (let i = 0; i < 20; i++) {
      const res = await httpJson('GET', `${api}/rooms/${c.roomId}/messages?after=${after}&limit=100`, c.token);
      if (res.status !== 200) throw new Error(`catch-up: ${res.status}`);
      for (const msg of res.body.data as Array<{ id: string; seq: number }>) {
        c.have.add(msg.id);
        after = Math.max(after, msg.seq);
      }
      c.lastSeq = Math.max(c.lastSeq, after);
      track.check(c);
      if (!res.body.hasMore) return;
    }
  };
  const sendMissed = () =>
    sendSpread(m, messages, async (roomId, i) => {
      const res = await httpJson('POST', `${api}/rooms/${roomId}/messages`, writer, {
        content: `missed ${i} while away`,
        clientMessageId: `rc-${Date.now()}-${i}`,
      });
      if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      return res.body.id as string;
    });
  // Connected, each socket has its recovery offset (the service's `ready` broadcast).
  const res = await connectAll(
    baseUrl,
    clients.map((c) => ({ token: c.token })),
    { concurrency: 50, waitReady: true, onSocket: (s, i) => attach(clients[i]!, s) },
  );
  if (res.failed) throw new Error(`${res.failed} sockets failed to connect: ${res.errors.join('; ')}`);
  await sleep(300);

  // 1. Transport drop and state recovery.
  for (const c of clients) (c.socket.io as unknown as { engine: { close(): void } }).engine.close();
  await until(() => clients.every((c) => !c.socket.connected), 5000);
  await sleep(300);
  const missed = await sendMissed();
  for (const c of clients) {
    c.expected = missed.get(c.roomId) ?? [];
    c.doneAt = null;
  }
  let restCalls = 0;
  let recovered = 0;
  track.measuring = true;
  let t0 = performance.now();
  for (const c of clients) {
    const before = c.lastSeq;
    c.socket.once('connect', () => {
      if (c.socket.recovered) recovered++;
      else {
        restCalls++;
        void catchUp(c, before).catch(() => {});
      }
    });
    c.socket.connect();
  }
  const recovery = await track.finish(
    'state recovery',
    messages,
    t0,
    () => recovered,
    () => restCalls,
  );

  if (only) {
    for (const c of clients) c.socket.close();
    await sleep(500);
    return [{ ...recovery, variant: only.variant }];
  }

  // 2. A long absence: sessions gone, new connections catch up over REST.
  for (const c of clients) c.socket.disconnect();
  await sleep(500);
  const missed2 = await sendMissed();
  for (const c of clients) {
    c.expected = missed2.get(c.roomId) ?? [];
    c.doneAt = null;
  }
  restCalls = 0;
  track.measuring = true;
  t0 = performance.now();
  for (const c of clients) {
    const after = c.lastSeq;
    const s = openSocket(baseUrl, { token: c.token });
    attach(c, s);
    s.once('connect', () => {
      restCalls++;
      void catchUp(c, after).catch(() => {});
    });
  }
  const rest = await track.finish(
    'REST catch-up',
    messages,
    t0,
    () => 0,
    () => restCalls,
  );
  for (const c of clients) c.socket.close();
  await sleep(500);
  return [recovery, rest];
}

/** What each client holds and when it held everything it missed; shared by the service's storms and the bare one. */
function tracker(clients: Client[]) {
  let duplicates = 0;
  const t = {
    measuring: false,
    check(c: Client) {
      if (t.measuring && c.doneAt === null && c.expected.every((id) => c.have.has(id))) c.doneAt = performance.now();
    },
    attach(c: Client, s: ClientSocket) {
      c.socket = s;
      s.on('new_message', (msg: { id: string; seq: number }, ack?: unknown) => {
        // The service's new_message carries an ack; the bare server's kept packets end with their offset instead.
        if (typeof ack === 'function') ack();
        if (c.have.has(msg.id)) duplicates++;
        c.have.add(msg.id);
        c.lastSeq = Math.max(c.lastSeq, msg.seq);
        t.check(c);
      });
    },
    async finish(
      variant: ReconnectResult['variant'],
      messages: number,
      t0: number,
      recovered: () => number,
      rest: () => number,
    ): Promise<ReconnectResult> {
      await until(() => clients.every((c) => c.doneAt !== null), TIMEOUT_MS, 5);
      const per = new Latency();
      let lost = 0;
      for (const c of clients) {
        if (c.doneAt !== null) per.record(c.doneAt - t0);
        lost += c.expected.filter((id) => !c.have.has(id)).length;
      }
      t.measuring = false;
      const done = clients.every((c) => c.doneAt !== null);
      return {
        variant,
        sockets: clients.length,
        messages,
        expected: clients.reduce((a, c) => a + c.expected.length, 0),
        allArrivedMs: done ? Math.max(...clients.map((c) => c.doneAt! - t0)) : null,
        perSocket: per.summary(),
        lost,
        duplicates,
        recovered: recovered(),
        restCatchUps: rest(),
      };
    },
  };
  return t;
}

/**
 * The state-recovery storm against a bare Socket.IO server with recovery on (bench/baselines/bare-socketio.ts,
 * RECOVERY=1): the same clients in the same rooms, the same drop and the same 100 messages, sent by a socket since
 * the bare server has no REST. What it takes is this machine's floor for the storm: the load generator opening 1,000
 * WebSockets and Socket.IO restoring 1,000 sessions, without the service's auth, database or acknowledged delivery.
 */
export async function bareReconnectStorm(bareUrl: string, m: Manifest, messages: number): Promise<ReconnectResult> {
  const clients: Client[] = m.reconnect.rooms.flatMap((r) =>
    r.members
      .filter((u) => u !== m.reconnect.writer)
      .map((userId) => ({
        userId,
        roomId: r.id,
        token: '',
        socket: undefined as unknown as ClientSocket,
        have: new Set<string>(),
        expected: [],
        doneAt: null,
        lastSeq: 0,
      })),
  );
  const track = tracker(clients);
  const res = await connectAll(
    bareUrl,
    clients.map((c) => ({ rooms: [`room:${c.roomId}`, `user:${c.userId}`] })),
    { concurrency: 50, waitReady: true, onSocket: (s, i) => track.attach(clients[i]!, s) },
  );
  const writer = openSocket(bareUrl, { rooms: [] });
  try {
    if (res.failed) throw new Error(`${res.failed} sockets failed to connect to the bare server: ${res.errors.join('; ')}`);
    await until(() => writer.connected, 5000);
    await sleep(300);
    for (const c of clients) (c.socket.io as unknown as { engine: { close(): void } }).engine.close();
    await until(() => clients.every((c) => !c.socket.connected), 5000);
    await sleep(300);
    const missed = await sendSpread(m, messages, async (roomId, i) => {
      const ack = (await writer.timeout(10_000).emitWithAck('send_message', { chatRoomId: roomId, content: `missed ${i} while away` })) as {
        data: { id: string };
      };
      return ack.data.id;
    });
    for (const c of clients) c.expected = missed.get(c.roomId) ?? [];
    let recovered = 0;
    track.measuring = true;
    const t0 = performance.now();
    for (const c of clients) {
      c.socket.once('connect', () => {
        if (c.socket.recovered) recovered++;
        track.check(c);
      });
      c.socket.connect();
    }
    return await track.finish(
      'state recovery',
      messages,
      t0,
      () => recovered,
      () => 0,
    );
  } finally {
    writer.close();
    for (const c of clients) c.socket?.close();
    await sleep(500);
  }
}

/** `messages` sends spread over the storm's rooms in turn, 8 at a time; the ids each room got, as they were answered. */
async function sendSpread(
  m: Manifest,
  messages: number,
  send: (roomId: string, i: number) => Promise<string>,
): Promise<Map<string, string[]>> {
  const ids = new Map<string, string[]>();
  const rooms = m.reconnect.rooms;
  await pool(
    Array.from({ length: messages }, (_, i) => i),
    8,
    async (i) => {
      const roomId = rooms[i % rooms.length]!.id;
      const id = await send(roomId, i);
      ids.set(roomId, [...(ids.get(roomId) ?? []), id]);
    },
  );
  return ids;
}
