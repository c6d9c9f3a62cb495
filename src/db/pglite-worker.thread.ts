import { mkdirSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type QueryOptions, type Transaction } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import {
  IDENTITY_PARSED_OIDS,
  type WireError,
  type WireOptions,
  type WorkerData,
  type WorkerReply,
  type WorkerRequest,
} from './pglite-worker.js';

// The thread that owns PGlite (see pglite-worker.ts). Its event loop stays free between statements, so requests keep
// arriving while a transaction waits for the main thread: PGlite's own mutexes do the queueing, as they do in process.

if (!parentPort) throw new Error('pglite-worker.thread is started by openPgliteWorker, as a worker thread');
const port = parentPort;

const identity = (value: string) => value;
const IDENTITY_PARSERS = Object.fromEntries(IDENTITY_PARSED_OIDS.map((oid) => [oid, identity]));

/** Rejects a parked transaction's callback, so that PGlite rolls back; never leaves this thread. */
const ROLL_BACK = Symbol('roll back');

interface Parked {
  tx: Transaction;
  finish(commit: boolean, endId: number): void;
}
const parked = new Map<number, Parked>();

function toOptions(wire: WireOptions): QueryOptions | undefined {
  if (!wire.rowMode && !wire.identity && !wire.paramTypes) return undefined;
  const options: QueryOptions = {};
  if (wire.rowMode) options.rowMode = wire.rowMode;
  if (wire.identity) options.parsers = IDENTITY_PARSERS;
  if (wire.paramTypes) options.paramTypes = wire.paramTypes;
  return options;
}

/** PGlite's DatabaseError keeps code, constraint, detail… as own fields; `queryOptions` holds functions and is left out. */
function toWireError(err: unknown): WireError {
  if (!(err instanceof Error)) return { message: String(err), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(err)) {
    if (typeof value === 'function') continue;
    try {
      fields[key] = structuredClone(value);
    } catch {
      // not cloneable: the main thread goes without it
    }
  }
  return { message: err.message, fields };
}

function post(reply: WorkerReply): void {
  try {
    port.postMessage(reply);
  } catch (err) {
    // A result that cannot be cloned still has to settle its call.
    port.postMessage({ id: reply.id, ok: false, error: toWireError(err) } satisfies WorkerReply);
  }
}

async function run(id: number, work: () => Promise<unknown>): Promise<void> {
  try {
    post({ id, ok: true, value: await work() });
  } catch (err) {
    post({ id, ok: false, error: toWireError(err) });
  }
}

const { dataDir } = workerData as WorkerData;
let pg: PGlite;
try {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  pg = await PGlite.create(dataDir, { extensions: { pg_trgm } });
} catch (err) {
  post({ id: 0, ok: false, error: toWireError(err) });
  throw err;
}

function inTransaction(txId: number): Transaction {
  const open = parked.get(txId);
  if (!open) throw new Error('Transaction is closed');
  return open.tx;
}

const target = (txId: number): PGlite | Transaction => (txId === 0 ? pg : inTransaction(txId));

/** Replies to `id` once BEGIN ran, then holds the transaction until the main thread sends `end` (commit or not). */
function begin(id: number, txId: number): void {
  let endId = 0;
  pg.transaction(
    (tx) =>
      new Promise<void>((resolve, reject) => {
        parked.set(txId, {
          tx,
          finish(commit, end) {
            endId = end;
            parked.delete(txId);
            if (commit) resolve();
            else reject(ROLL_BACK);
          },
        });
        post({ id, ok: true, value: undefined });
      }),
  ).then(
    () => post({ id: endId, ok: true, value: undefined }),
    (err: unknown) => {
      if (endId === 0) post({ id, ok: false, error: toWireError(err) });
      else if (err === ROLL_BACK) post({ id: endId, ok: true, value: undefined });
      else post({ id: endId, ok: false, error: toWireError(err) });
    },
  );
}

function handle(req: WorkerRequest): void {
  switch (req.op) {
    case 'query':
      void run(req.id, () => target(req.tx).query(req.sql, req.params, toOptions(req.opts)));
      return;
    case 'exec':
      void run(req.id, () => target(req.tx).exec(req.sql, toOptions(req.opts)));
      return;
    case 'begin':
      begin(req.id, req.tx);
      return;
    case 'rollback':
      void run(req.id, () => inTransaction(req.tx).rollback());
      return;
    case 'end': {
      const open = parked.get(req.tx);
      if (open) open.finish(req.commit, req.id);
      else post({ id: req.id, ok: false, error: toWireError(new Error('Transaction is closed')) });
      return;
    }
    case 'close':
      void run(req.id, () => pg.close());
      return;
  }
}

port.on('message', handle);
post({ id: 0, ok: true, value: undefined });
