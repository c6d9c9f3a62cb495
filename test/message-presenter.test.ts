import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MessagePresenter } from '../src/messages/messages.presenter.js';
import type { MessageView } from '../src/contract/messages.js';
import type { RealtimeRepository } from '../src/realtime/realtime.repository.js';
import { Replayer, type MissedMessages } from '../src/realtime/replay.js';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';

let t: TestApp;
let alice: Client;
let bob: Client;

const send = async (c: Client, roomId: string, body: Record<string, unknown>): Promise<MessageView> => {
  const res = await c.post(`/rooms/${roomId}/messages`, body);
  expect(res.status).toBe(201);
  return res.body;
};

beforeAll(async () => {
  t = await startTestApp();
  [alice, bob] = await Promise.all([t.as('alice'), t.as('bob')]);
});
afterAll(async () => t?.close());
afterEach(() => vi.restoreAllMocks());

describe('one presenter for every reader', () => {
  it('search highlights the message as presented, so what the presenter withholds never leaks through a snippet', async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'p', participantIds: ['bob'] })).body.id;
    await send(alice, room, { content: 'the launch code is swordfish' });
    // A stand-in for a redaction applied by the presenter (issue 12): the row still holds the text.
    const present = MessagePresenter.prototype.present;
    vi.spyOn(MessagePresenter.prototype, 'present').mockImplementation(async function (this: MessagePresenter, rows) {
      return (await present.call(this, rows)).map((m) => ({ ...m, content: m.content.replace('swordfish', '[redacted]') }));
    });
    const res = await bob.get(`/messages/search?q=launch`);
    expect(res.status).toBe(200);
    expect(res.body.data).toHaveLength(1);
    expect(res.body.data[0].message.content).toBe('the launch code is [redacted]');
    expect(res.body.data[0].highlight).toEqual({ snippet: 'the launch code is [redacted]', ranges: [[4, 10]] });
    expect(JSON.stringify(res.body)).not.toContain('swordfish');
  });

  it('lastMessages presents the last message of each room as room lists show it; rooms without messages are absent', async () => {
    const [busy, quiet, empty] = await Promise.all(
      ['busy', 'quiet', 'empty'].map(
        async (name) => (await alice.post('/rooms', { type: 'group', name, participantIds: ['bob'] })).body.id,
      ),
    );
    const parent = await send(alice, busy!, { content: 'parent '.repeat(60) });
    await send(bob, busy!, { content: 'first' });
    const last = await send(bob, busy!, { content: 'the answer', replyToId: parent.id, mentions: ['alice'] });
    const only = await send(alice, quiet!, { content: 'hello' });

    const views = await t.app.services.messages.lastMessages([busy!, quiet!, empty!]);
    expect([...views.keys()].sort()).toEqual([busy, quiet].sort());
    // Built by the same presenter as the send's answer (the write path) and as history.
    expect(views.get(busy!)).toEqual(last);
    expect(views.get(quiet!)).toEqual(only);
    expect(last.replyTo!.content).toBe([...parent.content].slice(0, 200).join(''));
    const listed = (await bob.get('/rooms?limit=100')).body.data as Array<{ id: string; lastMessage: MessageView | null }>;
    for (const id of [busy!, quiet!, empty!]) expect(listed.find((r) => r.id === id)!.lastMessage).toEqual(views.get(id) ?? null);
    expect(await t.app.services.messages.lastMessages([])).toEqual(new Map());
  });

  it('missedSince answers afterSeq < seq <= upToSeq, oldest first, as history presents them', async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'm', participantIds: ['bob'] })).body.id;
    const sent: MessageView[] = [];
    for (let i = 1; i <= 5; i++) sent.push(await send(alice, room, { content: `m${i}` }));
    const { messages } = t.app.services;
    expect(await messages.missedSince(room, 1, 4, 100)).toEqual(sent.slice(1, 4));
    expect(await messages.missedSince(room, 0, 5, 2)).toEqual(sent.slice(0, 2));
    expect(await messages.missedSince(room, 5, 5, 100)).toEqual([]);
    const history = (await bob.get(`/rooms/${room}/messages`)).body.data;
    expect(await messages.missedSince(room, 0, 5, 100)).toEqual(history);
  });

  it('viewsByIds presents messages by id, as sends and history do; unknown and malformed ids are absent', async () => {
    const room = (await alice.post('/rooms', { type: 'group', name: 'ids', participantIds: ['bob'] })).body.id;
    const a = await send(alice, room, { content: 'one' });
    const b = await send(bob, room, { content: 'two', replyToId: a.id });
    const views = await t.app.services.messages.viewsByIds([b.id, a.id, b.id, '01890a5d-ac96-774b-bcce-b302099a8057', 'not-an-id']);
    expect([...views.keys()].sort()).toEqual([a.id, b.id].sort());
    expect(views.get(a.id)).toEqual(a);
    expect(views.get(b.id)).toEqual(b);
    expect(await t.app.services.messages.viewsByIds([])).toEqual(new Map());
  });
});

describe('Replayer', () => {
  const view = (roomId: string, seq: number) => ({ chatRoomId: roomId, seq }) as MessageView;

  function replayer(lastSeqs: Record<string, number>) {
    const asked: string[] = [];
    let lastSeqQueries = 0;
    const repo = {
      lastSeqs: async (ids: string[]) => {
        lastSeqQueries++;
        return new Map(ids.filter((id) => id in lastSeqs).map((id) => [id, lastSeqs[id]!]));
      },
    } as unknown as RealtimeRepository;
    const messages: MissedMessages = {
      async missedSince(roomId, afterSeq, upToSeq, limit) {
        asked.push(`${roomId} ${afterSeq} ${upToSeq} ${limit}`);
        const out: MessageView[] = [];
        for (let seq = afterSeq + 1; seq <= upToSeq && out.length < limit; seq++) out.push(view(roomId, seq));
        return out;
      },
    };
    return { replayer: new Replayer(repo, messages), asked, lastSeqQueries: () => lastSeqQueries };
  }

  it('reads through the messages service, once per page for every socket of a storm, and only rooms that moved', async () => {
    const r = replayer({ a: 5, b: 2, c: 9 });
    const seen = { a: 3, b: 2, c: 0 };
    const [one, two, other] = await Promise.all([
      r.replayer.missed(seen),
      r.replayer.missed({ ...seen }),
      r.replayer.missed({ a: 4, gone: 1 }),
    ]);
    expect(one).toEqual([
      { roomId: 'a', messages: [view('a', 4), view('a', 5)] },
      { roomId: 'c', messages: Array.from({ length: 9 }, (_, i) => view('c', i + 1)) },
    ]);
    expect(two).toEqual(one);
    expect(other).toEqual([{ roomId: 'a', messages: [view('a', 5)] }]);
    // One page read per (room, after, up to); the last seqs of the three asked together in one query.
    expect(r.asked.sort()).toEqual(['a 3 5 100', 'a 4 5 100', 'c 0 9 100']);
    expect(r.lastSeqQueries()).toBe(1);
  });

  it('does not share a failed read with the sockets that come after', async () => {
    let fail = true;
    const repo = { lastSeqs: async () => new Map([['a', 2]]) } as unknown as RealtimeRepository;
    const replay = new Replayer(repo, {
      async missedSince(roomId, afterSeq, upToSeq) {
        if (fail) throw new Error('database down');
        return [view(roomId, upToSeq)].filter((m) => m.seq > afterSeq);
      },
    });
    await expect(replay.missed({ a: 1 })).rejects.toThrow('database down');
    fail = false;
    expect(await replay.missed({ a: 1 })).toEqual([{ roomId: 'a', messages: [view('a', 2)] }]);
  });
});

describe('OpenAPI', () => {
  it('Message.media resolves to the media schema, which now lives with media', async () => {
    const doc = (await (await fetch(`${t.baseUrl}/docs/json`)).json()) as {
      components: { schemas: Record<string, { properties: Record<string, any> }> };
    };
    const media = doc.components.schemas['Message']!.properties['media'];
    expect(media.type).toBe('array');
    expect(Object.keys(media.items.properties).sort()).toEqual(
      ['durationMs', 'fileName', 'height', 'id', 'kind', 'mimeType', 'size', 'thumbnailUrl', 'url', 'width'].sort(),
    );
    expect(JSON.stringify(doc)).not.toMatch(/"\$ref":"(?!#\/components\/schemas\/)/);
  });
});
