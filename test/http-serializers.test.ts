import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageSchema } from '../src/contract/messages.js';
import { forSerializing } from '../src/http/serializers.js';
import { startTestApp, type TestApp } from './helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

describe('response serializers', () => {
  it('compile the validators of their anyOf branches with themselves, not on a later response', async () => {
    const alice = await t.as('alice');
    const room = (await alice.post('/rooms', { type: 'group', name: 'g', participantIds: ['bob'] })).body;
    const first = (await alice.post(`/rooms/${room.id}/messages`, { content: 'first' })).body;
    expect((await alice.post(`/rooms/${room.id}/messages`, { content: 'a reply', replyToId: first.id })).status).toBe(201);
    expect((await alice.put(`/messages/${first.id}/reactions/${encodeURIComponent('👍')}`)).status).toBe(200);

    // fast-json-stringify asks ajv for a branch's validator the first time a response reaches that branch; built
    // lazily, that compile (milliseconds each) lands on whichever request gets there first.
    const proto = Ajv.prototype as unknown as { _compileSchemaEnv: (...a: unknown[]) => unknown };
    const compileEnv = proto._compileSchemaEnv;
    const onResponses: string[] = [];
    proto._compileSchemaEnv = function (this: unknown, ...a: unknown[]) {
      const stack = new Error().stack ?? '';
      if (stack.includes('getSchemaValidator')) onResponses.push(stack.split('\n').slice(1, 4).join(' | '));
      return compileEnv.apply(this, a);
    };
    try {
      for (const path of [
        `/rooms/${room.id}/messages?limit=50`,
        `/rooms/${room.id}`,
        '/rooms?limit=50',
        '/messages/search?q=first',
        `/messages/${first.id}`,
      ]) {
        expect({ path, status: (await alice.get(path)).status }).toEqual({ path, status: 200 });
      }
      expect((await alice.patch(`/rooms/${room.id}/read`)).status).toBe(200);
    } finally {
      proto._compileSchemaEnv = compileEnv;
    }
    expect(onResponses).toEqual([]);
  });
});

describe('forSerializing', () => {
  const build = (schema: unknown) =>
    SerializerSelector()({}, {})({ schema, method: 'GET', url: '/', httpStatus: '200' } as never) as (data: unknown) => string;
  const reply = { id: 'r1', seq: 1, senderId: 'bob', type: 'text', content: 'hi', deletedAt: null };
  const message = (over: Record<string, unknown>) => ({
    id: 'm1',
    chatRoomId: 'c1',
    seq: 2,
    senderId: 'alice',
    type: 'image',
    content: 'a "quoted" line\n',
    mentions: ['bob'],
    replyToId: null,
    replyTo: null,
    media: [],
    clientMessageId: null,
    createdAt: '2026-12-05T10:00:00.000Z',
    editedAt: null,
    deletedAt: null,
    deletedBy: null,
    changeSeq: 3,
    pinnedAt: null,
    pinnedBy: null,
    reactions: [{ emoji: '👍', count: 2, me: true }],
    ...over,
  });

  it('writes a message exactly as the contract schema does, with every nullable field null and set', () => {
    const before = build(MessageSchema);
    const after = build(forSerializing(MessageSchema));
    const set = {
      replyToId: 'r1',
      replyTo: reply,
      clientMessageId: 'c-1',
      editedAt: '2026-12-05T10:01:00.000Z',
      deletedAt: '2026-12-05T10:02:00.000Z',
      deletedBy: 'alice',
      pinnedAt: '2026-12-05T10:03:00.000Z',
      pinnedBy: 'bob',
    };
    for (const m of [message({}), message(set), message({ ...set, replyTo: { ...reply, deletedAt: '2026-12-05T10:04:00.000Z' } })]) {
      expect(after(m)).toBe(before(m));
      expect(JSON.parse(after(m))).toEqual(m);
    }
  });

  it('turns [T, null] unions into nullable T and string constants into an enum, and nothing else', () => {
    const out = forSerializing(MessageSchema) as { properties: Record<string, Record<string, unknown>> };
    expect(out.properties['editedAt']).toEqual({ type: 'string', format: 'date-time', nullable: true });
    expect(out.properties['type']).toEqual({ type: 'string', enum: ['text', 'image', 'video', 'audio', 'document', 'system'] });
    expect(out.properties['replyTo']!['nullable']).toBe(true);
    expect(out.properties['replyTo']!['anyOf']).toBeUndefined();
    // Two object branches need the validators to choose: left as they are.
    const either = {
      anyOf: [
        { type: 'object', properties: { a: { type: 'string' } } },
        { type: 'object', properties: { b: { type: 'integer' } } },
      ],
    };
    expect(forSerializing(either)).toEqual(either);
    // A nullable schema that has an $id is copied inline without it: the $id stays with the schema itself.
    const named = { $id: 'Named', type: 'object', properties: {} };
    expect(forSerializing({ anyOf: [named, { type: 'null' }] })).toEqual({ type: 'object', properties: {}, nullable: true });
    // The contract's schema is untouched, and the same object always gives the same copy.
    expect((MessageSchema.properties.editedAt as { anyOf?: unknown }).anyOf).toHaveLength(2);
    expect(forSerializing(MessageSchema)).toBe(forSerializing(MessageSchema));
  });
});
