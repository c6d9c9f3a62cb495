import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestApp, TEST_JWT_SECRET, type TestApp } from './helpers/app.js';

const PYTHON = '/usr/bin/python3';
const EXAMPLE = path.join(import.meta.dirname, '..', 'examples', 'python', 'chat_client.py');

// Debian's python3-socketio with the two transports' libraries (.ci/run installs them); the pyenv python3 on PATH
// of a developer's machine usually has none of them.
const hasClient = spawnSync(PYTHON, ['-c', 'import socketio, requests, websocket'], { stdio: 'ignore' }).status === 0;

// The example talks to the public API only: once, in the PGlite project.
const here = inject('template').kind === 'pglite';
if (here && !hasClient) {
  console.warn(
    `python-client.test.ts skipped: ${PYTHON} cannot import socketio, requests and websocket (apt-get install python3-socketio python3-requests python3-websocket)`,
  );
}

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(PYTHON, [EXAMPLE, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out, err })));
}

describe.runIf(here && hasClient)('the Python example (examples/python/chat_client.py)', () => {
  let t: TestApp;
  let result: Awaited<ReturnType<typeof run>>;

  beforeAll(async () => {
    t = await startTestApp();
    // The secret through the environment, as the example's usage shows (not on the command line, where ps shows it).
    result = await run([t.baseUrl, '--users', 'py-alice,py-bob'], { CHAT_JWT_SECRET: TEST_JWT_SECRET });
  });
  afterAll(() => t?.close());

  it('walks through every step and exits 0', () => {
    expect(result.err).not.toMatch(/FAILED|Traceback/);
    expect(result.code).toBe(0);
    const steps = [...result.out.matchAll(/^ok ([\w -]+):/gm)].map((m) => m[1]);
    expect(steps).toEqual([
      'tokens',
      'room',
      'connect',
      'typing',
      'send',
      'retry',
      'refused',
      'receive',
      'delivered',
      'read',
      'reaction',
      'receipts',
      'catch-up',
      'bad token',
    ]);
    expect(result.out).toMatch(/^ok refused: VALIDATION_FAILED/m);
    expect(result.out).toMatch(/^ok bad token: refused with connect_error UNAUTHORIZED$/m);
    // Broadcast events carry the recovery offset as one more argument: the handlers took it.
    expect(result.out).toMatch(/^ok read: .* \(\+1 extra argument\)$/m);
    expect(result.out.trimEnd().endsWith('done')).toBe(true);
  });

  it('left in the server what it said it did', async () => {
    const alice = await t.as('py-alice');
    const rooms = (await alice.get('/rooms')).body.data as Array<{ id: string; type: string }>;
    expect(rooms.map((r) => r.type)).toEqual(['direct']);
    const { data: messages } = (await alice.get(`/rooms/${rooms[0]!.id}/messages`)).body as {
      data: Array<{ id: string; seq: number; content: string; senderId: string; reactions: Array<{ emoji: string; count: number }> }>;
    };
    // The retry stored nothing twice and the refused message nothing at all.
    expect(messages.map((m) => [m.seq, m.senderId, m.content])).toEqual([
      [1, 'py-alice', 'Hello from Python'],
      [2, 'py-alice', 'Are you there?'],
      [3, 'py-alice', 'Call me when you are back'],
    ]);
    expect(messages[0]!.reactions).toMatchObject([{ emoji: '👍', count: 1 }]);
    const receipts = (await alice.get(`/messages/${messages[0]!.id}/receipts`)).body.data as Array<{
      userId: string;
      readAt: string | null;
    }>;
    expect(receipts.find((r) => r.userId === 'py-bob')?.readAt).toEqual(expect.any(String));
  });
});
