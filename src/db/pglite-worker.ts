import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { QueryOptions, Results, RowMode } from '@electric-sql/pglite';

/**
 * PGlite runs every statement synchronously in WebAssembly, so in process it stalls the event loop for as long as the
 * statement takes (issue 16). Here one worker thread owns the PGlite instance and the main thread only posts
 * statements and receives rows: one structured-clone message each way, no JSON of rows.
 */

/**
 * drizzle-orm/pglite leaves these types as the strings PostgreSQL sends (it parses them itself). Its parser functions
 * cannot cross to the worker, so the worker applies the same identity parsers when told to.
 * DATE, TIMESTAMP, TIMESTAMPTZ, INTERVAL, numeric[], timestamp[], timestamptz[], interval[], date[].
 */
export const IDENTITY_PARSED_OIDS: readonly number[] = [1082, 1114, 1184, 1186, 1231, 1115, 1185, 1187, 1182];

/** Transaction 0 is "none": the statement runs on the PGlite instance itself. */
export type WorkerRequest =
  | { id: number; op: 'query'; tx: number; sql: string; params: unknown[] | undefined; opts: WireOptions }
  | { id: number; op: 'exec'; tx: number; sql: string; opts: WireOptions }
  | { id: number; op: 'begin'; tx: number }
  | { id: number; op: 'rollback'; tx: number }
  | { id: number; op: 'end'; tx: number; commit: boolean }
  | { id: number; op: 'close' };

/** What of QueryOptions survives postMessage; `identity` stands for drizzle's identity parsers. */
export interface WireOptions {
  rowMode?: RowMode;
  identity?: true;
  paramTypes?: number[];
}

/** An error from PGlite, flattened: its message and the own fields (code, constraint, detail…) that clone. */
export interface WireError {
  message: string;
  fields: Record<string, unknown>;
}

export type WorkerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

export interface WorkerData {
  dataDir: string | undefined;
}

/** The transaction handle passed to `transaction(fn)`, as PGlite's Transaction is used by drizzle. */
export interface PgliteWorkerTransaction {
  query<T>(sql: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>>;
  exec(sql: string, options?: QueryOptions): Promise<Results[]>;
  rollback(): Promise<void>;
  readonly closed: boolean;
}

export interface PgliteWorker {
  /** Quacks like a PGlite instance as far as drizzle-orm/pglite and its migrator use it. */
  client: PgliteWorkerClient;
  /** Waits for the calls under way, closes PGlite (flushing the data directory), then ends the thread. */
  close(): Promise<void>;
}

const checkedParsers = new WeakSet<object>();

/** Only options that mean the same in the worker are accepted; anything else fails rather than being dropped. */
function toWire(options: QueryOptions | undefined): WireOptions {
  if (!options) return {};
  const wire: WireOptions = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (key === 'rowMode') wire.rowMode = value as RowMode;
    else if (key === 'paramTypes') wire.paramTypes = value as number[];
    else if (key === 'parsers') {
      if (Object.keys(value as object).length === 0) continue;
      checkParsers(value as Record<string, unknown>);
      wire.identity = true;
    } else throw new Error(`PGlite worker: query option "${key}" cannot be passed to the worker thread`);
  }
  return wire;
}

function checkParsers(parsers: Record<string, unknown>): void {
  if (checkedParsers.has(parsers)) return;
  const keys = Object.keys(parsers);
  const probe = 'probe';
  const same =
    keys.length === IDENTITY_PARSED_OIDS.length &&
    IDENTITY_PARSED_OIDS.every((oid) => {
      const parse = parsers[oid];
      return typeof parse === 'function' && parse(probe) === probe;
    });
  if (!same) {
    throw new Error(
      `PGlite worker: only drizzle's identity parsers (types ${IDENTITY_PARSED_OIDS.join(', ')}) can be applied in the worker thread; got parsers for ${keys.join(', ')}`,
    );
  }
  checkedParsers.add(parsers);
}

/** Rebuilt here, so the stack shows the caller on this thread (async frames) rather than the worker's internals. */
function toError(raw: unknown): Error {
  if (raw instanceof Error) return raw;
  const wire = raw as WireError;
  const err = new Error(wire.message);
  Object.assign(err, wire.fields);
  return err;
}

type Pending = { resolve: (value: unknown) => void; reject: (err: unknown) => void };
/** A request before it is given an id (distributes over the union, as plain Omit would not). */
type Request<R = WorkerRequest> = R extends WorkerRequest ? Omit<R, 'id'> : never;

export class PgliteWorkerClient {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #nextTx = 1;
  #openTx = 0;
  /** Set once the thread is gone (or going): every later call rejects with it. */
  #failure: Error | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (reply: WorkerReply) => this.#settle(reply));
    worker.on('error', (err) => this.#fail(new Error(`PGlite worker failed: ${err.message}`, { cause: err })));
    worker.on('messageerror', (err) => {
      this.#fail(new Error(`PGlite worker sent a message that could not be read: ${err.message}`, { cause: err }));
      void worker.terminate();
    });
    worker.on('exit', (code) => this.#fail(new Error(`PGlite worker exited (code ${code})`)));
  }

  async query<T>(sql: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>> {
    return (await this.#call({ op: 'query', tx: 0, sql, params, opts: toWire(options) })) as Results<T>;
  }

  async exec(sql: string, options?: QueryOptions): Promise<Results[]> {
    return (await this.#call({ op: 'exec', tx: 0, sql, opts: toWire(options) })) as Results[];
  }

  /**
   * The worker opens a PGlite transaction and holds it until `fn` settles; statements tagged with it run inside,
   * everything else waits behind it as it would in process. A throwing `fn` rolls back and its own error is rethrown.
   */
  async transaction<T>(fn: (tx: PgliteWorkerTransaction) => Promise<T>): Promise<T> {
    const txId = this.#nextTx++;
    await this.#call({ op: 'begin', tx: txId });
    this.#openTx++;
    const tx = new WorkerTransaction((request) => this.#call(request), txId);
    try {
      let result: T;
      try {
        result = await fn(tx);
      } catch (err) {
        tx.done = true;
        // The caller's error says what went wrong; a failed rollback (or a dead worker) would only hide it.
        await this.#call({ op: 'end', tx: txId, commit: false }).catch(() => {});
        throw err;
      }
      tx.done = true;
      await this.#call({ op: 'end', tx: txId, commit: true });
      return result;
    } finally {
      this.#openTx--;
      this.#checkDrained();
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    if (this.#pending.size > 0 || this.#openTx > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    try {
      if (!this.#failure) await this.#call({ op: 'close' }, true);
    } finally {
      this.#fail(new Error('PGlite worker is closed'));
      await this.#worker.terminate();
    }
  }

  async #call(request: Request, closing = false): Promise<unknown> {
    if (this.#failure) throw this.#failure;
    // Once closing, only the transactions already under way may go on, so that close() can wait for them.
    if (this.#closing && !closing && !(request.op !== 'begin' && 'tx' in request && request.tx !== 0)) {
      throw new Error('PGlite worker is closing');
    }
    const id = this.#nextId++;
    const reply = new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    try {
      this.#worker.postMessage({ ...request, id });
    } catch (err) {
      this.#pending.delete(id);
      throw err; // a parameter that cannot be cloned (a function, say)
    }
    if (this.#pending.size === 1) this.#worker.ref();
    try {
      return await reply;
    } catch (raw) {
      throw toError(raw);
    }
  }

  #settle(reply: WorkerReply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (reply.ok) pending.resolve(reply.value);
    else pending.reject(reply.error);
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (this.#pending.size > 0) return;
    // An idle worker must not keep the process alive, as an idle in-process PGlite would not.
    this.#worker.unref();
    if (this.#openTx === 0 && this.#drained) {
      this.#drained();
      this.#drained = undefined;
    }
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(this.#failure);
    this.#checkDrained();
  }
}

class WorkerTransaction implements PgliteWorkerTransaction {
  done = false;
  #rolledBack = false;

  constructor(
    private readonly call: (request: Request) => Promise<unknown>,
    private readonly txId: number,
  ) {}

  get closed(): boolean {
    return this.done || this.#rolledBack;
  }

  async query<T>(sql: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>> {
    return (await this.call({ op: 'query', tx: this.txId, sql, params, opts: toWire(options) })) as Results<T>;
  }

  async exec(sql: string, options?: QueryOptions): Promise<Results[]> {
    return (await this.call({ op: 'exec', tx: this.txId, sql, opts: toWire(options) })) as Results[];
  }

  async rollback(): Promise<void> {
    await this.call({ op: 'rollback', tx: this.txId });
    this.#rolledBack = true;
  }
}

/**
 * The thread is TypeScript under tsx and vitest, JavaScript once built into dist/. Node 20 does not apply loaders given
 * in a Worker's execArgv (`--import tsx`) to the worker's entry module (nodejs/node#47747), so a .ts thread is reached
 * through a small script that registers tsx's ESM hooks in the thread first and then imports it.
 */
function threadEntry(): { script: URL | string; eval?: true } {
  const js = new URL('./pglite-worker.thread.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return { script: js };
  const ts = new URL('./pglite-worker.thread.ts', import.meta.url);
  if (!existsSync(fileURLToPath(ts))) {
    throw new Error(`PGlite worker: no pglite-worker.thread.js or .ts next to ${fileURLToPath(import.meta.url)}`);
  }
  const tsx = import.meta.resolve('tsx/esm/api');
  const script = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(ts.href)}); })`;
  return { script, eval: true };
}

/** Starts the thread and waits until PGlite is open in it. `dataDir` undefined keeps the database in memory. */
export async function openPgliteWorker(dataDir: string | undefined): Promise<PgliteWorker> {
  const entry = threadEntry();
  const workerData: WorkerData = { dataDir };
  const worker = new Worker(entry.script, { workerData, ...(entry.eval ? { eval: true } : {}) });
  // The thread posts one first message once PGlite is open (or failed to open); nothing else is sent before it.
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`PGlite worker exited (code ${code}) while opening the database`));
    const onError = (err: Error) => reject(new Error(`PGlite worker failed to start: ${err.message}`, { cause: err }));
    worker.once('exit', onExit);
    worker.once('error', onError);
    worker.once('message', (reply: WorkerReply) => {
      worker.off('exit', onExit);
      worker.off('error', onError);
      if (reply.ok) return resolve();
      // The thread rethrows after posting its failure; without a listener that 'error' would be an uncaught
      // exception in this process. The failure is already reported by the reply.
      worker.on('error', () => {});
      reject(toError(reply.error));
    });
  }).catch(async (err: unknown) => {
    await worker.terminate();
    throw err;
  });
  const client = new PgliteWorkerClient(worker);
  worker.unref();
  return { client, close: () => client.close() };
}
