import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
