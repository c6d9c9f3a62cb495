// The one-statement edit and delete (message-changes.statement.ts): what they write is what the ordinary path writes,
// and everything they leave to that path (refusals, files, a change committed while they waited) writes nothing.
import { sql, type SQL } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { deleteInOneStatement, editInOneStatement } from '../src/messages/message-changes.statement.js';
import { documentVector } from '../src/text/tokenize.js';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { getMessage, getRoom, ok, pin, react, sideRows, UNKNOWN_ID } from './helpers/changes.js';
import { buildMessage, buildRoom } from './helpers/factories.js';
import { sleep } from './helpers/sockets.js';

let t: TestApp;
let alice: Client, bob: Client, carol: Client, dave: Client;
/** alice (owner), bob, carol */
let room: string;
const PROBE = 'statement-test-probe';

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_WRITES_PER_MINUTE: '100000' });
  [alice, bob, carol, dave] = await Promise.all([t.as('alice'), t.as('bob'), t.as('carol'), t.as('dave')]);
  room = (await buildRoom(alice, { participantIds: ['bob', 'carol'] })).id;
  // A consumer of every change's event, so each one is logged whatever else listens.
  await rows(sql`insert into domain_event_consumer (name, types) values (${PROBE}, '{message.edited,message.revised,message.deleted}')`);
});
afterAll(async () => {
  await t?.close();
});

async function rows<T = Record<string, unknown>>(query: SQL): Promise<T[]> {
  return ((await t.app.database.db.execute(query)) as unknown as { rows: T[] }).rows;
}

const db = () => t.app.database.db;
const editInput = (content: string, mentions?: string[]) => ({
  content,
  searchDoc: documentVector(content),
  mentions,
  notBefore: null,
});

/** Everything a change of this message may write: its row, its room's counters, its versions and reactions, its events. */
async function written(messageId: string) {
  const [message] = await rows(
    sql`select m.content, m.mentions, m.search_doc::text as doc, m.edited_at is not null as edited, m.deleted_at is not null as deleted,
          m.deleted_by, m.change_seq::int as change_seq, m.pinned_at is not null as pinned, m.pinned_by, m.reactions, m.has_media,
          r.last_change_seq::int as room_change_seq, r.pinned_count
        from chat_message m join chat_room r on r.id = m.room_id where m.id = ${messageId}`,
  );
  const versions = await rows(sql`select content, mentions from chat_message_edit where message_id = ${messageId} order by edited_at, id`);
  const events = await rows(
    sql`select e.type, e.payload from domain_event e join domain_event_pending p on p.event_id = e.id and p.consumer = ${PROBE}
        where e.payload->>'messageId' = ${messageId} order by e.id`,
  );
  return { message, versions, events, ...(await sideRows(t, messageId)) };
}

describe('an edit by its sender in one statement', () => {
  it('writes the text, the mentions, the search words, the version it replaces and its event, and takes the next changeSeq', async () => {
    const sent = await buildMessage(alice, room, { content: 'first words', mentions: ['bob'] });
    const done = await editInOneStatement(db(), sent.id, 'alice', editInput('second words', ['carol', 'bob', 'alice']));
    expect(done).toBeDefined();
    expect(done!.before).toMatchObject({ id: sent.id, content: 'first words', mentions: ['bob'], seq: sent.seq });
    expect(done!.roomType).toBe('group');
    const after = await written(sent.id);
    expect(after.message).toMatchObject({
      content: 'second words',
      mentions: ['carol', 'bob', 'alice'],
      edited: true,
      deleted: false,
      change_seq: done!.applied.changeSeq,
      room_change_seq: done!.applied.changeSeq,
    });
    const [row] = await rows<{ same: boolean }>(
      sql`select search_doc = ${documentVector('second words')}::tsvector as same from chat_message where id = ${sent.id}`,
    );
    expect(row?.same).toBe(true);
    expect(after.versions).toEqual([{ content: 'first words', mentions: ['bob'] }]);
    // Newly mentioned: carol only (bob was already, alice is the sender).
    expect(after.events).toEqual([
      {
        type: 'message.edited',
        payload: { messageId: sent.id, roomId: room, senderId: 'alice', roomType: 'group', newMentions: ['carol'] },
      },
    ]);
    expect(await getMessage(bob, sent.id)).toMatchObject({ content: 'second words', mentions: ['carol', 'bob', 'alice'] });

    // Mentions left out are kept, and nobody new is mentioned: message.revised.
    const again = await editInOneStatement(db(), sent.id, 'alice', editInput('third words'));
    expect(again!.applied.changeSeq).toBe(done!.applied.changeSeq + 1);
    const last = await written(sent.id);
    expect(last.message).toMatchObject({ content: 'third words', mentions: ['carol', 'bob', 'alice'] });
    expect(last.versions).toEqual([
      { content: 'first words', mentions: ['bob'] },
      { content: 'second words', mentions: ['carol', 'bob', 'alice'] },
    ]);
    expect(last.events[1]).toEqual({
      type: 'message.revised',
      payload: { messageId: sent.id, roomId: room, senderId: 'alice', roomType: 'group', newMentions: [] },
    });
  });

  it('answers the caller’s own reactions (for `me`) as they stand', async () => {
    const sent = await buildMessage(alice, room, { content: 'react to me' });
    ok(await react(alice, sent.id, '👍'));
    ok(await react(bob, sent.id, '🎉'));
    const done = await editInOneStatement(db(), sent.id, 'alice', editInput('reacted to'));
    expect(done!.ownEmoji).toEqual(['👍']);
    expect(done!.before.reactions).toEqual([
      { emoji: '👍', count: 1 },
      { emoji: '🎉', count: 1 },
    ]);
  });
});

describe('a delete by its sender in one statement', () => {
  it('leaves a clean tombstone: no reactions, versions, pin or words, the pin given back, and its event logged', async () => {
    const sent = await buildMessage(alice, room, { content: 'soon gone', mentions: ['bob'] });
    ok(await pin(alice, room, sent.id));
    ok(await react(bob, sent.id, '👍'));
    expect(await editInOneStatement(db(), sent.id, 'alice', editInput('soon gone, edited'))).toBeDefined();
    expect((await getRoom(alice, room)).pinnedCount).toBe(1);

    const done = await deleteInOneStatement(db(), sent.id, 'alice');
    expect(done).toBeDefined();
    const after = await written(sent.id);
    expect(after.message).toEqual({
      content: '',
      mentions: [],
      doc: '',
      edited: false,
      deleted: true,
      deleted_by: 'alice',
      change_seq: done!.applied.changeSeq,
      pinned: false,
      pinned_by: null,
      reactions: [],
      has_media: false,
      room_change_seq: done!.applied.changeSeq,
      pinned_count: 0,
    });
    expect([after.versions, after.edits, after.reactions]).toEqual([[], 0, 0]);
    expect(after.events.at(-1)).toEqual({ type: 'message.deleted', payload: { messageId: sent.id, roomId: room, seq: sent.seq } });
    expect(await getMessage(carol, sent.id)).toMatchObject({ content: '', deletedBy: 'alice', changeSeq: done!.applied.changeSeq });
  });
});

describe('what the statements leave to the ordinary path writes nothing', () => {
  /** Each case: the change asked of the statement, on a message made for it; expected: undefined and no write at all. */
  async function refused(messageId: string, run: () => Promise<unknown>): Promise<void> {
    const before = await written(messageId);
    expect(await run()).toBeUndefined();
    expect(await written(messageId)).toEqual(before);
  }

  it('an edit: by someone else, by a sender who left, of a tombstone, after the window, naming a stranger, across a block', async () => {
    const bobs = await buildMessage(bob, room, { content: 'bob’s' });
    await refused(bobs.id, () => editInOneStatement(db(), bobs.id, 'alice', editInput('not yours')));

    const leaving = (await buildRoom(alice, { participantIds: ['carol'] })).id;
    const carols = await buildMessage(carol, leaving, { content: 'before leaving' });
    expect((await carol.patch(`/rooms/${leaving}/participants/carol/remove`)).status).toBe(204);
    await refused(carols.id, () => editInOneStatement(db(), carols.id, 'carol', editInput('after leaving')));

    const gone = await buildMessage(alice, room, { content: 'deleted' });
    ok(await alice.delete(`/messages/${gone.id}`));
    await refused(gone.id, () => editInOneStatement(db(), gone.id, 'alice', editInput('back')));

    const old = await buildMessage(alice, room, { content: 'old' });
    await refused(old.id, () =>
      editInOneStatement(db(), old.id, 'alice', { ...editInput('late'), notBefore: new Date(Date.now() + 60_000) }),
    );
    await refused(old.id, () => editInOneStatement(db(), old.id, 'alice', editInput('who?', ['bob', 'dave'])));

    const opened = await alice.post('/rooms', { type: 'direct', participantIds: ['dave'] });
    expect(opened.status).toBe(201);
    const direct: string = opened.body.id;
    const toDave = await buildMessage(alice, direct, { content: 'hi dave' });
    expect((await dave.put('/blocks/alice')).status).toBe(204);
    await refused(toDave.id, () => editInOneStatement(db(), toDave.id, 'alice', editInput('hi again')));
    // Taking one's words back stays possible across a block, in one statement too.
    expect(await deleteInOneStatement(db(), toDave.id, 'alice')).toBeDefined();

    expect(await editInOneStatement(db(), UNKNOWN_ID, 'alice', editInput('nothing'))).toBeUndefined();
  });

  it('a delete: by someone else, of a tombstone, of a message with files', async () => {
    const alices = await buildMessage(alice, room, { content: 'alice’s' });
    await refused(alices.id, () => deleteInOneStatement(db(), alices.id, 'bob'));
    expect(await deleteInOneStatement(db(), alices.id, 'alice')).toBeDefined();
    await refused(alices.id, () => deleteInOneStatement(db(), alices.id, 'alice'));

    // The files of a message are listed for removal by the ordinary path only.
    const withFiles = await buildMessage(alice, room, { content: 'with a file' });
    await rows(sql`update chat_message set has_media = true where id = ${withFiles.id}`);
    await refused(withFiles.id, () => deleteInOneStatement(db(), withFiles.id, 'alice'));

    expect(await deleteInOneStatement(db(), UNKNOWN_ID, 'alice')).toBeUndefined();
  });
});

describe.runIf(inject('template').kind === 'postgres')('a change committed while the statement waits for the lock', () => {
  /** Holds the message's lock on a connection of its own, writes what a reaction writes, and commits once `waiting`. */
  async function reactWhileLocked(messageId: string, waiting: () => Promise<unknown>): Promise<void> {
    const other = new pg.Client({ connectionString: t.db.url! });
    await other.connect();
    try {
      await other.query('begin');
      await other.query('select 1 from chat_message where id = $1 for no key update', [messageId]);
      await other.query(`insert into chat_reaction (message_id, emoji, user_id) values ($1, '👀', 'bob')`, [messageId]);
      await other.query(
        `update chat_message set reactions = '[{"emoji":"👀","count":1}]'::jsonb, change_seq = (
           select last_change_seq + 1 from chat_room where id = room_id) where id = $1`,
        [messageId],
      );
      await other.query(
        'insert into chat_message_change (room_id, change_seq, message_id) select room_id, change_seq, id from chat_message where id = $1',
        [messageId],
      );
      await other.query(
        'update chat_room set last_change_seq = last_change_seq + 1 where id = (select room_id from chat_message where id = $1)',
        [messageId],
      );
      await waiting();
      await other.query('commit');
    } finally {
      await other.end();
    }
  }

  /** Resolves once a statement of this database waits for a row lock. */
  async function lockWaiter(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const [waiting] = await rows<{ n: number }>(
        sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
      );
      if (waiting!.n > 0) return;
      await sleep(10);
    }
    throw new Error('no statement waited for the lock');
  }

  it('writes nothing (its snapshot is older than the row it locked), and the ordinary path then does the change', async () => {
    for (const kind of ['delete', 'edit'] as const) {
      const sent = await buildMessage(alice, room, { content: `raced ${kind}` });
      let statement!: Promise<unknown>;
      await reactWhileLocked(sent.id, async () => {
        statement =
          kind === 'delete'
            ? deleteInOneStatement(db(), sent.id, 'alice')
            : editInOneStatement(db(), sent.id, 'alice', editInput('raced, edited'));
        await lockWaiter();
      });
      expect(await statement).toBeUndefined();
      expect(await sideRows(t, sent.id)).toEqual({ edits: 0, reactions: 1 });
      expect((await written(sent.id)).message).toMatchObject({ content: `raced ${kind}`, deleted: false });

      // Through the service: the statement sees the reaction now and writes; a delete leaves none behind.
      if (kind === 'delete') ok(await alice.delete(`/messages/${sent.id}`));
      else ok(await alice.patch(`/messages/${sent.id}`, { content: 'raced, edited' }));
      expect(await sideRows(t, sent.id)).toEqual(kind === 'delete' ? { edits: 0, reactions: 0 } : { edits: 1, reactions: 1 });
    }
  });
});
