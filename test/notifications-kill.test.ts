import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mintToken } from '../src/auth/tokens.js';
import { openDatabase } from '../src/db/client.js';
import { request, TEST_JWT_SECRET } from './helpers/app.js';
import { freshDatabase } from './helpers/databases.js';
import { startWebhookReceiver, until, type WebhookReceiver } from './helpers/notify.js';
import { startService, type ServiceProcess } from './helpers/process.js';
import { sleep } from './helpers/sockets.js';

const SECRET = 'webhook-secret-for-the-kill-test';
const REFUSAL = 'outbox closed by the kill test';
let hook: WebhookReceiver;
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  hook = await startWebhookReceiver(SECRET);
});
afterAll(async () => {
  await hook?.close();
  for (const c of cleanups.reverse()) await c();
});

/**
 * Holds the notifications' queueing shut, so that a message is committed while its notification cannot be queued:
 * on PostgreSQL the test's own connection locks the outbox table (the queueing waits on the lock); on PGlite, one
 * process's database that the test cannot open while the service runs, a trigger refuses every outbox row until the
 * test removes it.
 */
interface Gate {
  /** Before the service starts (PGlite) or before the send (PostgreSQL). */
  close(): Promise<void>;
  /** The queueing of a notification has reached the closed outbox. */
  reached(svc: ServiceProcess): Promise<boolean>;
  /** After the service is dead. */
  open(): Promise<void>;
}

function postgresGate(url: string): Gate {
  const locker = new pg.Client({ connectionString: url });
  // Dropped with its database at the end, even when the test failed before opening the gate.
  locker.on('error', () => {});
  cleanups.push(() => locker.end().catch(() => {}));
  return {
    async close() {
      await locker.connect();
      await locker.query('begin');
      await locker.query('lock table notification_outbox in access exclusive mode');
    },
    async reached() {
      // The consumer's transaction, holding the message's event, waits for the outbox. (Its statement waits in its
      // parse step, before pg_stat_activity shows its text: hence the locks.)
      const { rows } = await locker.query(
        `select 1 from pg_locks w where w.relation = 'notification_outbox'::regclass and not w.granted
           and exists (select 1 from pg_locks h where h.pid = w.pid and h.relation = 'domain_event_pending'::regclass)`,
      );
      return rows.length > 0;
    },
    async open() {
      // The dead process's connections go with it: a statement it had sent must not finish once the outbox opens.
      await locker.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
      );
      await locker.query('rollback');
      await locker.end();
    },
  };
}

function pgliteGate(dataDir: string): Gate {
  const withDb = async (...statements: string[]) => {
    const database = await openDatabase({ dataDir: `${dataDir}/db` });
    try {
      await database.migrate();
      for (const statement of statements) await database.db.execute(sql.raw(statement));
    } finally {
      await database.close();
    }
  };
  return {
    close: () =>
      withDb(
        `create function refuse_outbox() returns trigger language plpgsql as $$ begin raise exception '${REFUSAL}'; end $$`,
        'create trigger refuse_outbox before insert on notification_outbox for each row execute function refuse_outbox()',
      ),
    reached: async (svc) => svc.output().includes(REFUSAL),
    open: () => withDb('drop trigger refuse_outbox on notification_outbox', 'drop function refuse_outbox()'),
  };
}

describe('notifications across kill -9', () => {
  it('queues the notification of a message whose process was killed between its commit and the queueing', async () => {
    const template = inject('template');
    const dataDir = mkdtempSync(path.join(tmpdir(), 'chat-kill-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const env: Record<string, string> = {
      DATA_DIR: dataDir,
      JWT_SECRET: TEST_JWT_SECRET,
      NOTIFY_WEBHOOK_URL: hook.url,
      NOTIFY_WEBHOOK_SECRET: SECRET,
      NOTIFY_COALESCE_MS: '200',
    };
    let gate: Gate;
    if (template.kind === 'postgres') {
      const db = await freshDatabase(template);
      await db.database.close(); // the service processes own the connections
      cleanups.push(() => db.drop());
      env['DATABASE_URL'] = db.url!;
      gate = postgresGate(db.url!);
    } else {
      env['EMBEDDED_ENGINE'] = 'pglite'; // the gate opens the data directly between the service's runs
      gate = pgliteGate(dataDir);
      await gate.close();
    }
    const headers = { authorization: `Bearer ${await mintToken(TEST_JWT_SECRET, 'alice')}`, 'content-type': 'application/json' };
    const post = (svc: ServiceProcess, p: string, body: unknown) =>
      request(svc.url, p, { method: 'POST', headers, body: JSON.stringify(body) });

    let svc = await startService(env);
    let killed = false;
    try {
      const room = (await post(svc, '/rooms', { type: 'direct', participantIds: ['bob'] })).body;
      if (template.kind === 'postgres') await gate.close();
      // Bob has no socket anywhere: the message is for a notification.
      const sent = await post(svc, `/rooms/${room.id}/messages`, { content: 'are you there?' });
      expect(sent.status).toBe(201);
      await until(() => gate.reached(svc), 'the queueing to reach the closed outbox');
      await svc.kill('SIGKILL');
      killed = true;
      await gate.open();
      await sleep(300);
      expect(hook.receipts).toEqual([]);

      // Started again on the same data, the service finds the message's event still to be handled.
      svc = await startService(env);
      killed = false;
      const [note] = await until(
        () => (hook.delivered('bob', room.id).length ? hook.delivered('bob', room.id) : false),
        'the notification',
        15_000,
      );
      expect(note).toMatchObject({
        event: 'message.new',
        senderId: 'alice',
        count: 1,
        messageIds: [sent.body.id],
        preview: 'are you there?',
      });
      await sleep(500);
      expect(hook.delivered('bob')).toHaveLength(1);
    } finally {
      if (!killed) await svc.kill('SIGKILL');
    }
  }, 90_000);
});
