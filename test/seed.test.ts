import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { MessageView } from '../src/contract/messages.js';
import type { RoomView } from '../src/contract/rooms.js';
import { USERS, type DemoUser } from '../scripts/seed/plan.js';
import { seed } from '../scripts/seed/run.js';
import { startTestApp, TEST_JWT_SECRET, type Client, type TestApp } from './helpers/app.js';

const MESSAGES = 100;

/** What a demo person's token says, as the seed signs it. */
const claims = (u: DemoUser) => ({
  name: u.name,
  ...(u.role ? { role: u.role } : {}),
  ...(u.businessIds ? { businessIds: u.businessIds } : {}),
});

interface Census {
  rooms: Array<{ id: string; type: string; name: string | null; lastSeq: number; lastChangeSeq: number; reads: string }>;
  messages: MessageView[];
}

/** Everything the demo people can see, read through the API as each of them. */
async function census(t: TestApp): Promise<Census> {
  const clients = new Map<string, Client>();
  for (const u of USERS) clients.set(u.id, await t.as(u.id, claims(u)));
  const rooms = new Map<string, { room: RoomView; reader: Client }>();
  for (const client of clients.values()) {
    const page = await client.get<{ data: RoomView[]; nextCursor: string | null }>('/rooms?limit=100');
    expect(page.status).toBe(200);
    expect(page.body.nextCursor).toBeNull();
    for (const room of page.body.data) rooms.set(room.id, { room, reader: client });
  }
  const messages: MessageView[] = [];
  for (const { room, reader } of rooms.values()) {
    for (let after = 0, more = true; more;) {
      const page = await reader.get(`/rooms/${room.id}/changes?after=${after}&limit=200`);
      messages.push(...(page.body.data as MessageView[]));
      more = page.body.hasMore;
      after = page.body.data.at(-1)?.changeSeq ?? 0;
    }
  }
  return {
    rooms: [...rooms.values()]
      .map(({ room }) => ({
        id: room.id,
        type: room.type,
        name: room.name,
        lastSeq: room.lastSeq,
        lastChangeSeq: room.lastChangeSeq,
        reads: room.participants.map((p) => `${p.userId}:${p.lastReadSeq}`).join(' '),
      }))
      .sort((a, b) => a.id.localeCompare(b.id)),
    messages: messages.sort((a, b) => a.id.localeCompare(b.id)),
  };
}

/** `npm run seed` itself, against the test app. */
function runCli(t: TestApp, args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/seed.ts', ...args], {
    env: { ...process.env, SEED_URL: t.baseUrl, JWT_SECRET: TEST_JWT_SECRET, DATA_DIR: t.config.dataDir, NODE_ENV: 'test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

// The seed is a client of the public API: what it makes does not depend on the engine, so it runs once, on PGlite.
const here = inject('template').kind === 'pglite';

describe.runIf(here)('npm run seed', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t?.close());

  it('fills an empty service with rooms of every type and lived-in messages, then adds nothing on a second run', async () => {
    const mint = (u: DemoUser) => t.token(u.id, claims(u));
    const first = await seed({ baseUrl: t.baseUrl, mint, messages: MESSAGES, out: null });
    expect(first.rooms.created).toBe(first.rooms.total);
    expect(first.messages.created).toBe(first.messages.total);
    expect(first.messages.total).toBeGreaterThanOrEqual(MESSAGES);

    const before = await census(t);
    expect(new Set(before.rooms.map((r) => r.type))).toEqual(new Set(['direct', 'group', 'business', 'support']));
    const { messages } = before;
    expect(messages).toHaveLength(first.messages.total);
    expect(messages.filter((m) => m.replyToId !== null).length).toBeGreaterThan(10);
    expect(messages.filter((m) => m.mentions.length > 0).length).toBeGreaterThanOrEqual(5);
    expect(messages.filter((m) => m.reactions.length > 0).length).toBeGreaterThan(10);
    expect(messages.filter((m) => m.editedAt !== null).length).toBeGreaterThanOrEqual(5);
    expect(messages.filter((m) => m.pinnedAt !== null).length).toBeGreaterThanOrEqual(5);
    const images = messages.filter((m) => m.type === 'image');
    expect(images.length).toBeGreaterThanOrEqual(5);
    // Real pictures the web app can show: the signed URL answers with a JPEG the service made a thumbnail of.
    const signed = new URL(images[0]!.media[0]!.thumbnailUrl!);
    const picture = await fetch(t.baseUrl + signed.pathname + signed.search);
    expect(picture.status).toBe(200);
    expect(picture.headers.get('content-type')).toMatch(/^image\//);
    // Unread counts look lived-in for the person the seed suggests signing in as.
    const ada = await t.as('ada', claims(USERS[0]!));
    const adaRooms = (await ada.get<{ data: RoomView[] }>('/rooms?limit=100')).body.data;
    expect(adaRooms.find((r) => r.name === 'General')?.unreadCount).toBe(12);
    expect(adaRooms.find((r) => r.name === 'Design crit')?.unreadCount).toBe(0);
    // Names come from the tokens: the web app titles a direct room by the other person's name.
    const direct = adaRooms.find((r) => r.type === 'direct' && r.participants.some((p) => p.userId === 'bruno'));
    expect(direct?.participants.find((p) => p.userId === 'bruno')?.name).toBe('Bruno Silva');

    const again = await seed({ baseUrl: t.baseUrl, mint, messages: MESSAGES, out: null });
    expect(again).toEqual({
      rooms: { total: first.rooms.total, created: 0 },
      messages: { total: first.messages.total, created: 0 },
      changes: 0,
      writes: 0,
    });
    expect(await census(t)).toEqual(before);

    // The command itself (tokens signed from the configuration, as npm run token signs them) finds it all in place.
    const cli = await runCli(t, ['--messages', String(MESSAGES)]);
    expect(cli.out).toContain('everything was there already');
    expect(cli.out).toMatch(/sign in with User ID "ada", Name "Ada Okafor"/);
    expect(cli.code).toBe(0);
  });

  it('says how to start the service when none answers', async () => {
    const cli = await runCli({ ...t, baseUrl: 'http://127.0.0.1:9' }, []);
    expect(cli.code).toBe(1);
    expect(cli.out).toMatch(/cannot reach the service at http:\/\/127\.0\.0\.1:9.*npm start/s);
  });
});
