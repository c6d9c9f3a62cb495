/**
 * The SDK heap reading (scenarios/sdk.ts) in a process of its own, so the heap it reads holds the clients and nothing of
 * the bench (no seeding, no other scenario's sockets or histograms). The bench's side (sdkHeap, runHeapChild) starts
 * `node --expose-gc --import tsx --import ./bench/lib/probe.ts bench/lib/sdk-heap.ts` with SDK_HEAP_ASK in its
 * environment; the child's side (the end of this file) answers over IPC.
 *
 * In the child, one client is opened and closed first (lazy module state: the HTTP dispatcher, the WebSocket and parser
 * code), then after a full GC N clients are opened, each following the same rooms, and the heap is read again after a
 * full GC. `sdk`: a ChatClient with every room opened and paged back to `messages` messages. `bare`, the baseline: what
 * any client has to hold anyway, one socket.io-client socket and the same pages (the room list, each room, its
 * messages) kept as parsed JSON.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { log } from './log.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface HeapAsk {
  kind: 'sdk' | 'bare';
  /** The service itself (no proxy). */
  url: string;
  /** One token a client; the first is the warm-up client's. */
  tokens: string[];
  rooms: string[];
  /** Messages each room is paged back to. */
  messages: number;
  concurrency: number;
}

export interface HeapAnswer {
  kind: 'sdk' | 'bare';
  clients: number;
  rooms: number;
  /** Fewest and most messages a client held in one room. */
  heldMin: number;
  heldMax: number;
  heapBefore: number;
  heapAfter: number;
  externalBefore: number;
  externalAfter: number;
  /** (heapAfter − heapBefore) / clients, in bytes. */
  heapPerClient: number;
  openSeconds: number;
}

interface Opened {
  held: number[];
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function fullGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  // Twice: the first collection's finalizers free more for the second.
  gc();
  gc();
}

async function openSdk(a: HeapAsk, token: string): Promise<Opened> {
  // Imported when used: the bench imports this file too, and must not load the SDK before it checked its build.
  const { ChatClient } = await import('chat-service/client');
  const client = new ChatClient({ url: a.url, token });
  await client.connect();
  const held: number[] = [];
  for (const id of a.rooms) {
    const room = await client.openRoom(id);
    for (let i = 0; i < 50 && room.messages.length < a.messages; i++) if (!(await room.loadOlder())) break;
    held.push(room.messages.length);
  }
  return { held, close: () => client.close() };
}

async function openBare(a: HeapAsk, token: string): Promise<Opened> {
  const socket = io(`${a.url}/chat`, { auth: { token } });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const get = async (p: string): Promise<any> => {
    const res = await fetch(`${a.url}/api/v1/chat${p}`, { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(`GET ${p}: ${res.status}`);
    return res.json();
  };
  const kept: unknown[] = [await get('/rooms?limit=100')];
  const held: number[] = [];
  for (const id of a.rooms) {
    const messages: any[] = [];
    let page = await get(`/rooms/${id}/messages?limit=100`);
    messages.unshift(...page.data);
    while (messages.length < a.messages && page.hasOlder && messages.length > 0) {
      page = await get(`/rooms/${id}/messages?before=${messages[0].seq}&limit=100`);
      messages.unshift(...page.data);
    }
    kept.push(await get(`/rooms/${id}`), messages);
    held.push(messages.length);
  }
  return {
    held,
    close: async () => {
      kept.length = 0;
      socket.close();
    },
  };
}

async function measure(a: HeapAsk): Promise<HeapAnswer> {
  const open = a.kind === 'sdk' ? openSdk : openBare;
  const [warm, ...tokens] = a.tokens;
  await (await open(a, warm!)).close();
  await sleep(500);
  fullGc();
  const m0 = process.memoryUsage();
  const t0 = performance.now();
  const clients: Opened[] = new Array(tokens.length);
  let next = 0;
  const worker = async () => {
    while (next < tokens.length) {
      const i = next++;
      clients[i] = await open(a, tokens[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(a.concurrency, tokens.length) }, worker));
  const openSeconds = (performance.now() - t0) / 1000;
  // Presence announcements of the later clients reach the earlier ones: let them arrive before reading.
  await sleep(1500);
  fullGc();
  const m1 = process.memoryUsage();
  const held = clients.flatMap((c) => c.held);
  const answer: HeapAnswer = {
    kind: a.kind,
    clients: clients.length,
    rooms: a.rooms.length,
    heldMin: Math.min(...held),
    heldMax: Math.max(...held),
    heapBefore: m0.heapUsed,
    heapAfter: m1.heapUsed,
    externalBefore: m0.external,
    externalAfter: m1.external,
    heapPerClient: (m1.heapUsed - m0.heapUsed) / Math.max(1, clients.length),
    openSeconds,
  };
  await Promise.all(clients.map((c) => c.close()));
  return answer;
}

/**
 * The SDK is imported from its build (client/dist, made by `npm install`), here and in the bench: rebuilt first when its
 * sources (or the contract it compiles in) are newer, so a run never measures an SDK older than the tree. True if rebuilt.
 */
export function freshSdkBuild(): boolean {
  const newest = (dir: string): number =>
    Math.max(0, ...readdirSync(dir, { recursive: true }).map((f) => statSync(path.join(dir, String(f))).mtimeMs));
  let built = 0;
  try {
    built = statSync(path.join(ROOT, 'client/dist/client/src/index.js')).mtimeMs;
  } catch {
    /* not built */
  }
  if (built >= Math.max(newest(path.join(ROOT, 'client/src')), newest(path.join(ROOT, 'src/contract')))) return false;
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'client/tsconfig.json'], {
      cwd: ROOT,
      stdio: 'pipe',
    });
  } catch (err) {
    throw new Error(`building the SDK failed: ${String((err as { stdout?: Buffer }).stdout ?? err).slice(0, 500)}`, { cause: err });
  }
  return true;
}

/** The bench's side: one child (with the probe, so it ends with the bench), its answer over IPC, then stopped. */
export async function runHeapChild(ask: HeapAsk): Promise<HeapAnswer> {
  const { spawnServer } = await import('./processes.js');
  const env = { SDK_HEAP_ASK: JSON.stringify(ask) };
  const child = await spawnServer({ name: `SDK heap (${ask.kind})`, args: ['bench/lib/sdk-heap.ts'], env, probe: true, pin: false });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await new Promise<HeapAnswer>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${child.name}: no answer within 180 s`)), 180_000);
      child.child.on('message', (m: { sdkHeap?: HeapAnswer; sdkHeapError?: string }) => {
        if (m?.sdkHeap) resolve(m.sdkHeap);
        if (m?.sdkHeapError) reject(new Error(`${child.name}: ${m.sdkHeapError}`));
      });
      child.child.once('exit', (code) => reject(new Error(`${child.name} exited (${code}): ${child.output().slice(-1500)}`)));
    });
  } finally {
    clearTimeout(timer);
    await child.stop();
  }
}

export interface SdkHeap {
  sdk: HeapAnswer;
  bare: HeapAnswer | null;
}

/** N SDK clients with the heap rooms open and paged back, in a child of their own; then the bare baseline likewise. */
export async function sdkHeap(
  server: { url: string },
  token: (userId: string) => Promise<string>,
  plan: { heapUsers: string[]; heapRooms: Array<{ id: string }>; sizes: { messages: number } },
  between: () => Promise<void>,
): Promise<SdkHeap> {
  if (freshSdkBuild()) log('  client/dist was older than its sources: rebuilt the SDK (npm run build:client)');
  const tokens = await Promise.all(plan.heapUsers.map(token));
  const ask = (kind: HeapAsk['kind']): HeapAsk => ({
    kind,
    url: server.url,
    tokens,
    rooms: plan.heapRooms.map((r) => r.id),
    messages: plan.sizes.messages,
    concurrency: 4,
  });
  const sdk = await runHeapChild(ask('sdk'));
  await between();
  const bare = await runHeapChild(ask('bare')).catch(
    (err: unknown) => (log(`  ⚠️ bare heap baseline failed: ${err instanceof Error ? err.message : String(err)}`), null),
  );
  const kib = (a: HeapAnswer | null) => (a ? `${(a.heapPerClient / 1024).toFixed(0)} KiB` : '–');
  log(
    `  SDK heap: ${sdk.clients} clients × ${sdk.rooms} rooms of ${sdk.heldMin}–${sdk.heldMax} messages: ${kib(sdk)} per client (opened in ${sdk.openSeconds.toFixed(1)} s); bare socket + JSON ${kib(bare)}`,
  );
  return { sdk, bare };
}

const raw = process.env['SDK_HEAP_ASK'];
if (raw && process.send) {
  // Bounded whatever happens: the bench waits at most this long too.
  setTimeout(() => process.exit(3), 170_000).unref();
  const ask = JSON.parse(raw) as HeapAsk;
  measure(ask).then(
    (answer) => process.send!({ sdkHeap: answer }, () => process.exit(0)),
    (err: unknown) => process.send!({ sdkHeapError: err instanceof Error ? err.message : String(err) }, () => process.exit(1)),
  );
}
