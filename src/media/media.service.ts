import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AuthContext } from '../auth/tokens.js';
import type { MediaView, PendingMedia } from '../contract/media.js';
import type { Executor } from '../db/client.js';
import { AppError, invalid } from '../errors.js';
import { isId, newId } from '../ids.js';
import type { Log } from '../log.js';
import { type RoomAccessGuard } from '../rooms/rooms.access.js';
import { detectType } from './media.detect.js';
import { MediaGarbage } from './media.garbage.js';
import { sanitiseFileName } from './media.names.js';
import { processFile } from './media.process.js';
import type { MediaRepository, MediaRow, NewMediaRow, StoredKeys } from './media.repository.js';
import { dispositionOf, servedContentType, THUMBNAIL_TYPE, typeOfKey, type MediaKind } from './media.types.js';
import type { MediaStorage } from './storage/storage.js';

// The public shapes of a file (the contract's), re-exported for the module's entry.
export type { MediaView, PendingMedia };
/** One uploaded file as a transport hands it over: busboy's file stream, the client's name and declared type. */
export interface IncomingFile {
  filename: string;
  mimetype: string;
  file: Readable;
}

export interface MediaOptions {
  maxFileBytes: number;
  maxFiles: number;
  maxPixels: number;
  urlTtlS: number;
  /** Where uploads are streamed before they are checked (DATA_DIR/tmp). */
  tmpDir: string;
  /** How often unused uploads are swept. */
  sweepIntervalMs?: number;
}

/** Unused uploads are kept this long for the message that will claim them. */
export const PENDING_TTL_MS = 60 * 60 * 1000;
const SWEEP_BATCH = 100;

export class MediaService {
  private log: Pick<Log, 'warn' | 'error'> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> | undefined;
  private readonly garbage: MediaGarbage;

  constructor(
    private readonly repo: MediaRepository,
    private readonly guard: RoomAccessGuard,
    readonly storage: MediaStorage,
    private readonly opts: MediaOptions,
  ) {
    this.garbage = new MediaGarbage(repo, storage, () => this.log);
  }

  /**
   * Streams each file to a temp file (counting bytes, stopping at the limit), checks it by its bytes, processes and
   * stores it, and records them all as pending uploads. All or nothing: when any file is refused, the objects already
   * stored for the request are removed and no row is written. Temp files never outlive the call.
   */
  async upload(auth: AuthContext, roomId: string, files: AsyncIterable<IncomingFile>): Promise<PendingMedia[]> {
    const { room } = await this.guard.member(auth, roomId);
    const stored: string[] = [];
    const temps: string[] = [];
    const tempPath = () => {
      const p = path.join(this.opts.tmpDir, `upload-${randomUUID()}`);
      temps.push(p);
      return p;
    };
    try {
      await mkdir(this.opts.tmpDir, { recursive: true });
      const rows: NewMediaRow[] = [];
      for await (const incoming of files) {
        if (rows.length >= this.opts.maxFiles) {
          incoming.file.resume();
          throw new AppError('PAYLOAD_TOO_LARGE', `at most ${this.opts.maxFiles} files per request`);
        }
        rows.push(await this.storeOne(auth.userId, room.id, incoming, tempPath, stored));
      }
      await this.repo.insertMany(rows);
      return rows.map((r) => ({ id: r.id!, kind: r.kind as MediaKind, mimeType: r.mimeType, size: r.size, fileName: r.fileName }));
    } catch (err) {
      await this.removeObjects(stored);
      throw err;
    } finally {
      await Promise.all(temps.map((p) => rm(p, { force: true })));
    }
  }

  /**
   * One file of an upload: received to a temp file, checked, processed and put in storage (with its thumbnail). Each
   * key is added to `stored` before its put, so the caller can remove what this left behind when the upload fails.
   */
  private async storeOne(
    uploaderId: string,
    roomId: string,
    incoming: IncomingFile,
    tempPath: () => string,
    stored: string[],
  ): Promise<NewMediaRow> {
    const label = `"${sanitiseFileName(incoming.filename)}"`;
    const tmp = tempPath();
    const size = await receive(incoming.file, tmp, this.opts.maxFileBytes, label);
    if (size === 0)
      throw new AppError('VALIDATION_FAILED', `${label} is empty`, { errors: [{ path: '/media', message: `${label} is empty` }] });
    const detected = await detectType(tmp, incoming.mimetype, label);
    const p = await processFile(detected, tmp, label, { maxPixels: this.opts.maxPixels, tempPath });
    const id = newId();
    const fileName = sanitiseFileName(incoming.filename, p.type);
    const key = `${roomId}/${id}.${p.type.ext}`;
    // Recorded before the call: a put that fails halfway may still have left an object behind.
    stored.push(key);
    await this.storage.put(key, p.path, {
      contentType: servedContentType(p.type),
      disposition: dispositionOf(p.type),
      fileName,
      size: p.size,
    });
    let thumbnailKey: string | null = null;
    if (p.thumbnailPath) {
      thumbnailKey = `${roomId}/${id}-thumb.webp`;
      stored.push(thumbnailKey);
      const thumbSize = (await stat(p.thumbnailPath)).size;
      await this.storage.put(thumbnailKey, p.thumbnailPath, {
        contentType: THUMBNAIL_TYPE.mime,
        disposition: 'inline',
        fileName: 'thumbnail.webp',
        size: thumbSize,
      });
    }
    return {
      id,
      roomId,
      uploaderId,
      kind: p.type.kind,
      mimeType: p.type.mime,
      size: p.size,
      fileName,
      storageKey: key,
      thumbnailKey,
      width: p.width,
      height: p.height,
      durationMs: p.durationMs,
    };
  }

  /**
   * Before the message transaction: the uploads `mediaIds` name, in order, with the same checks as claim (400, 413)
   * but no lock. The message's type can be decided from them (messageType) before its row is written; claim then
   * takes them for good, so an upload used by a concurrent send in between still fails the claim.
   */
  async pending(auth: AuthContext, roomId: string, mediaIds: string[]): Promise<MediaRow[]> {
    if (mediaIds.length === 0) return [];
    this.checkIds(mediaIds);
    const rows = mediaIds.every(isId) ? await this.repo.findPending(mediaIds, roomId, auth.userId) : [];
    if (rows.length !== mediaIds.length) throw notClaimable();
    return rows;
  }

  /**
   * Inside the message transaction, after the message row is inserted (media rows reference it): attaches the uploads
   * to it, in the given order. Each id must be a pending upload of the caller in this room; otherwise 400 and the
   * caller's transaction rolls back.
   */
  async claim(tx: Executor, auth: AuthContext, roomId: string, mediaIds: string[], messageId: string): Promise<MediaRow[]> {
    if (mediaIds.length === 0) return [];
    this.checkIds(mediaIds);
    const rows = mediaIds.every(isId) ? await this.repo.with(tx).claim(mediaIds, roomId, auth.userId, messageId) : [];
    if (rows.length !== mediaIds.length) throw notClaimable();
    return rows;
  }

  private checkIds(mediaIds: string[]): void {
    if (mediaIds.length > this.opts.maxFiles) throw new AppError('PAYLOAD_TOO_LARGE', `at most ${this.opts.maxFiles} files per message`);
    if (new Set(mediaIds).size !== mediaIds.length) throw invalid('mediaIds must not repeat an id', '/mediaIds');
  }

  /** The media of each message, in the API's shape, with URLs signed now. Messages without media are absent. */
  async viewsFor(messageIds: string[]): Promise<Map<string, MediaView[]>> {
    const byMessage = new Map<string, MediaView[]>();
    const rows = await this.repo.byMessageIds([...new Set(messageIds)].filter(isId));
    const views = await this.views(rows);
    rows.forEach((row, i) => {
      const list = byMessage.get(row.messageId!) ?? [];
      list.push(views[i]!);
      byMessage.set(row.messageId!, list);
    });
    return byMessage;
  }

  /**
   * URLs are minted per read. Their issue time is rounded down to a step (5 minutes by default), so reads within one
   * step hand out the same URL and clients can cache the file; each URL lives at least MEDIA_URL_TTL_S.
   */
  async views(rows: MediaRow[]): Promise<MediaView[]> {
    const ttl = this.opts.urlTtlS;
    const step = Math.max(1, Math.min(300, Math.floor(ttl / 10)));
    const now = Math.floor(Date.now() / 1000);
    const issuedAt = now - (now % step);
    const expiresAt = issuedAt + step + ttl;
    return Promise.all(
      rows.map(async (r) => {
        const type = typeOfKey(r.storageKey);
        const disposition = type ? dispositionOf(type) : 'attachment';
        const [url, thumbnailUrl] = await Promise.all([
          this.storage.signedUrl(r.storageKey, { issuedAt, expiresAt, disposition, fileName: r.fileName }),
          r.thumbnailKey
            ? this.storage.signedUrl(r.thumbnailKey, { issuedAt, expiresAt, disposition: 'inline', fileName: 'thumbnail.webp' })
            : null,
        ]);
        return {
          id: r.id,
          kind: r.kind as MediaKind,
          mimeType: r.mimeType,
          size: r.size,
          fileName: r.fileName,
          url,
          thumbnailUrl,
          width: r.width,
          height: r.height,
          durationMs: r.durationMs,
        };
      }),
    );
  }

  /** 'text' without media; else the kind all files share; else the first file's kind (which covers the shared case). */
  messageType(media: ReadonlyArray<{ kind: string }>): 'text' | MediaKind {
    return media.length === 0 ? 'text' : (media[0]!.kind as MediaKind);
  }

  /**
   * Inside the transaction that deletes a message: its media rows go and every object key is listed for removal, so
   * the intent survives a crash and its files are unreadable from the commit on. Returns the keys for `purge`.
   */
  erase(tx: Executor, messageId: string): Promise<string[]> {
    return this.repo.with(tx).eraseMessage(messageId);
  }

  /** After that commit: removes the objects from storage now; a failure is logged and retried by the sweep. Never throws. */
  purge(keys: string[]): Promise<void> {
    return this.garbage.purge(keys);
  }

  /** True while the object under `key` waits for its removal (it must not be served). */
  isErased(key: string): Promise<boolean> {
    return this.garbage.isErased(key);
  }

  /** Removes pending uploads of the caller at once, e.g. those of a multipart message that was refused. */
  async discard(auth: AuthContext, mediaIds: string[]): Promise<void> {
    const rows = await this.repo.deletePending(mediaIds.filter(isId), auth.userId);
    await this.removeObjects(rows.flatMap(keysOf));
  }

  /**
   * Deletes unused uploads older than `olderThanMs`: rows first (so no message can claim an upload whose file is
   * going), then their objects; temp files that a crash left behind; and the erased objects whose removal is due
   * again. Returns how many uploads went.
   */
  async cleanupPending(olderThanMs = PENDING_TTL_MS): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await this.repo.deletePendingBefore(new Date(Date.now() - olderThanMs), SWEEP_BATCH);
      await this.removeObjects(rows.flatMap(keysOf));
      total += rows.length;
      if (rows.length < SWEEP_BATCH) break;
    }
    await this.sweepTemp(olderThanMs);
    await this.garbage.sweep();
    return total;
  }

  /** Sweeps every few minutes until stop(); the timer does not keep the process alive. */
  start(log: Pick<Log, 'warn' | 'error'>): void {
    this.log = log;
    if (this.timer) return;
    this.timer = setInterval(
      () => {
        this.sweeping ??= this.cleanupPending()
          .catch((err: unknown) => log.error({ err }, 'sweeping unused uploads and erased media failed'))
          .finally(() => (this.sweeping = undefined));
      },
      this.opts.sweepIntervalMs ?? 5 * 60 * 1000,
    );
    this.timer.unref();
  }

  /** Stops the sweep and waits for a running one, so the database is not closed under it. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping;
    (this.storage as { close?(): void }).close?.();
  }

  private async sweepTemp(olderThanMs: number): Promise<void> {
    const names = await readdir(this.opts.tmpDir).catch(() => [] as string[]);
    const cutoff = Date.now() - olderThanMs;
    for (const name of names.filter((n) => n.startsWith('upload-'))) {
      const file = path.join(this.opts.tmpDir, name);
      const info = await stat(file).catch(() => undefined);
      if (info && info.mtimeMs < cutoff) await rm(file, { force: true });
    }
  }

  /** Best effort: the request is already failing (or the rows are gone); a failed delete is logged, not thrown. */
  private async removeObjects(keys: string[]): Promise<void> {
    await Promise.all(
      keys.map((key) =>
        this.storage.delete(key).catch((err: unknown) => this.log?.warn({ err, key }, 'could not delete a stored media object')),
      ),
    );
  }
}

const notClaimable = () => invalid('mediaIds must name your own unused uploads in this room', '/mediaIds');
const keysOf = (r: StoredKeys): string[] => (r.thumbnailKey ? [r.storageKey, r.thumbnailKey] : [r.storageKey]);

const tooLarge = (label: string, max: number) => new AppError('PAYLOAD_TOO_LARGE', `${label} is larger than the limit of ${max} bytes`);

/**
 * Copies `source` to `dest`, never holding more than a stream buffer in memory, and stops at `max` bytes: by its own
 * count, or at once when the source reports a limit of its own (busboy's `limit` event and `truncated` flag).
 */
async function receive(source: Readable, dest: string, max: number, label: string): Promise<number> {
  let size = 0;
  let limited = false;
  const onLimit = () => {
    limited = true;
    source.destroy(tooLarge(label, max));
  };
  source.once('limit', onLimit);
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > max) done(tooLarge(label, max));
      else done(null, chunk);
    },
  });
  const sink = createWriteStream(dest, { flags: 'wx' });
  try {
    await pipeline(source, counter, sink);
  } catch (err) {
    // The pipeline can settle before the file is even open: wait until it is closed, or the caller's clean-up would
    // remove nothing and the open would create the temp file after it.
    if (!sink.closed) await new Promise<void>((resolve) => sink.once('close', () => resolve()));
    if (limited || size > max) throw tooLarge(label, max);
    throw err;
  } finally {
    source.off('limit', onLimit);
  }
  if ((source as Readable & { truncated?: boolean }).truncated) throw tooLarge(label, max);
  return size;
}
