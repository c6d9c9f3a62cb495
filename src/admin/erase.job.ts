import { causeChain } from '../errors.js';
import type { AdminJobsConfig } from '../config/retention.js';
import type { Db, Tx } from '../db/client.js';
import { EventLogRepository } from '../event-log/event-log.repository.js';
import type { EventBus } from '../events.js';
import type { Log } from '../log.js';
import type { MediaService } from '../media/index.js';
import type { MessageChangesService } from '../messages/index.js';
import type { RoomsRepository } from '../rooms/rooms.repository.js';
import { AdminRepository, type JobRow } from './admin.repository.js';
import { EraseRepository } from './erase.repository.js';
import { JobLease } from './job-lease.js';
import { BACKGROUND_SHARE, restAfter, sleep } from '../timers.js';

/** The job lost its lease to another instance: this one stops, its batch rolled back. */
class LeaseLost extends Error {}

/**
 * A failed job's `error`: the innermost cause's message, i.e. the database's own words. Drizzle wraps them in "Failed
 * query: <the SQL> params: <…>", which says nothing of why and would keep the statement's parameters in the job row.
 */
function reason(err: unknown): string {
  const said = causeChain(err).filter((e) => typeof e.message === 'string' && e.message);
  return String(said.length ? said[said.length - 1]!.message : err).slice(0, 500);
}

/**
 * A failure that says nothing about the job: the connection went, the server is shutting down or out of resources,
 * a deadlock or serialization failure (SQLSTATE classes 08, 40, 53, 57P). The job is tried again, not failed.
 */
function transient(err: unknown): boolean {
  return causeChain(err).some(
    ({ code }) => typeof code === 'string' && (/^(08|40|53|57P)/.test(code) || /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT)$/.test(code)),
  );
}

/** How long a job rests after a passing failure before any instance takes it again. */
const RETRY_AFTER_MS = 1000;

/**
 * Runs erase jobs on every instance. A job is leased (admin_job.locked_until) and each batch commits its work with
 * the job's progress and a renewed lease in one transaction, fenced by the lease it holds: an instance that died
 * leaves a lease that runs out, another takes the job and carries on from what was committed, and one that only
 * stalled finds its lease gone and rolls its batch back. While the job runs, its instance renews the lease beside it
 * (`JobLease`). Every step asks what is left of the user, so nothing is done twice.
 */
export class EraseJobs {
  private readonly jobs: AdminRepository;
  private readonly erase: EraseRepository;
  private readonly eventLog: EventLogRepository;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private log: Pick<Log, 'error' | 'warn'> | undefined;

  constructor(
    private readonly db: Db,
    private readonly changes: MessageChangesService,
    private readonly rooms: RoomsRepository,
    private readonly media: Pick<MediaService, 'purge'>,
    private readonly bus: EventBus,
    private readonly cfg: AdminJobsConfig,
    /** PGlite: one connection, so one instance; a renewal beside an open transaction would wait for it forever. */
    private readonly oneConnection = false,
  ) {
    this.jobs = new AdminRepository(db);
    this.erase = new EraseRepository(db);
    this.eventLog = new EventLogRepository(db);
  }

  start(log: Pick<Log, 'error' | 'warn'>): void {
    this.log = log;
    this.stopped = false;
    this.timer = setInterval(() => this.wake(), this.cfg.pollMs);
    this.timer.unref();
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** A job was queued (here) or may be due: run now, or right after the run under way. */
  wake(): void {
    if (this.stopped || !this.log) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((err: unknown) => this.log?.error({ err }, 'admin jobs failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async drain(): Promise<void> {
    while (!this.stopped) {
      const job = await this.jobs.claim(this.cfg.leaseMs);
      if (!job) return;
      await this.run(job);
    }
  }

  private async run(job: JobRow): Promise<void> {
    const lease = new JobLease(this.jobs, job.id, job.lockedUntil!, this.cfg.leaseMs, !this.oneConnection);
    try {
      // The job ends `done` in the transaction of its last batch (see `batch`).
      await lease.keep(() => this.eraseUser(job.id, job.subject, lease));
    } catch (err) {
      if (err instanceof LeaseLost || this.stopped) return;
      if (transient(err)) {
        this.log?.warn({ err, jobId: job.id }, 'erase job interrupted; it carries on shortly');
        await this.jobs.postpone(job.id, lease.at, Math.min(RETRY_AFTER_MS, this.cfg.leaseMs)).catch(() => {});
        return;
      }
      this.log?.error({ err, jobId: job.id }, 'erase job failed');
      await this.jobs.finish(job.id, lease.at, reason(err)).catch(() => {});
    }
  }

  /**
   * One batch: `work` and the job's progress commit together, while the lease is still this instance's. The `last`
   * one also ends the job in that transaction: were `done` written after it, a stall longer than the lease in between
   * would let another instance take the job, redo the last step and stall the same way.
   */
  private async batch<T>(
    jobId: string,
    lease: JobLease,
    step: string,
    work: (tx: Tx) => Promise<{ result: T; counts: Record<string, number> }>,
    { last = false, announce }: { last?: boolean; announce?: (result: T) => void | Promise<void> } = {},
  ): Promise<T> {
    if (this.stopped) throw new LeaseLost();
    const began = performance.now();
    const result = await this.db.transaction(async (tx) => {
      const done = await work(tx);
      const jobs = this.jobs.with(tx);
      await lease.fenced(async () => {
        const renewed = await jobs.advance(jobId, lease.at, this.cfg.leaseMs, step, done.counts);
        if (!renewed || (last && !(await jobs.finish(jobId, renewed)))) throw new LeaseLost();
        lease.at = renewed;
      });
      return done.result;
    });
    // Told before the pause: were the job taken over during it, the next holder's changes would be told first.
    await announce?.(result);
    if (!last) await sleep(restAfter(performance.now() - began, BACKGROUND_SHARE, this.cfg.pauseMs));
    return result;
  }

  private async eraseUser(jobId: string, userId: string, lease: JobLease): Promise<void> {
    // Messages: tombstones in batches, room by room in id order, through the one batch delete of messages/. Each look
    // starts past what is done (the room just finished; in a room, the seq after the batch before): a look from the
    // start walks every tombstone already made, which made an erase quadratic (100,000 messages: 500 walks of up to
    // 100,000 index entries each, on the database the sends need). One look at the end finds what was sent meanwhile
    // in a room already passed, each room from past what was done there.
    const size = this.cfg.eraseBatchSize;
    // Room → the highest seq of theirs looked through there: all of the user's messages up to it are tombstones.
    const passed = new Map<string, number>();
    let sweeping = false;
    let room = await this.erase.roomWithLiveMessages(userId);
    while (room) {
      const roomId = room;
      // In a room already (partly) done, a batch starts past what was done there.
      const done = passed.get(roomId);
      const from = done === undefined ? undefined : done + 1;
      const b = await this.batch(
        jobId,
        lease,
        'messages',
        async (tx) => {
          const b = await this.changes.tombstoneIn(tx, roomId, { senderId: userId, fromSeq: from }, 'system', size);
          return { result: b, counts: { messages: b.rows.length } };
        },
        { announce: (b) => this.changes.announceTombstones(b) },
      );
      // A batch takes the lowest live seqs from `from`: every message of theirs up to its highest is done.
      if (b.rows.length) passed.set(roomId, Math.max(passed.get(roomId) ?? 0, ...b.rows.map((r) => r.seq)));
      // A full batch: the room may hold more, all after it.
      if (b.rows.length === size) continue;
      // Forward until the last room; then only the look at the end, which a forward look from an earlier room would
      // undo by walking the later rooms' tombstones.
      const next: string | undefined = sweeping ? undefined : await this.erase.roomWithLiveMessages(userId, roomId);
      sweeping ||= next === undefined;
      room = next ?? (await this.erase.roomWithLiveMessagesPast(userId, passed));
    }
    // Reactions: each message loses them as by an unreact (summary and change log), one message per transaction.
    for (let ids = await this.erase.reactedMessages(userId, 100); ids.length; ids = await this.erase.reactedMessages(userId, 100)) {
      for (const messageId of ids) {
        await this.batch(
          jobId,
          lease,
          'reactions',
          async (tx) => {
            const r = await this.erase.with(tx).unreact(messageId, userId);
            // The durable log (webhooks), as an unreact writes it: one reaction.removed per emoji.
            if (r) {
              await this.eventLog.append(
                tx,
                r.emoji.map((emoji) => ({
                  type: 'reaction.removed',
                  roomId: r.roomId,
                  payload: { chatRoomId: r.roomId, messageId, userId, emoji },
                })),
              );
            }
            const dropped = r ? 0 : await this.erase.with(tx).dropReactions(userId, [messageId]);
            return { result: r, counts: { reactions: r ? r.emoji.length : dropped } };
          },
          { announce: (done) => done && this.announceUnreact(done, userId) },
        );
      }
    }
    // Rooms: left as a participant leaves (a room never loses its last owner; a support room closes).
    for (let roomId = await this.erase.nextRoom(userId); roomId; roomId = await this.erase.nextRoom(userId)) {
      const room = roomId;
      await this.batch(jobId, lease, 'rooms', async (tx) => ({ result: await this.leave(tx, room, userId), counts: { rooms: 1 } }), {
        announce: async (left) => {
          const remainingIds = await this.rooms.participantIds(room);
          this.bus.publish('participant.removed', { roomId: room, userId, remainingIds });
          if (left.changed) this.bus.publish('room.updated', { roomId: room });
        },
      });
    }
    const files = await this.batch(
      jobId,
      lease,
      'traces',
      async (tx) => {
        const repo = this.erase.with(tx);
        const keys = await repo.eraseUploads(userId);
        const counts = await repo.eraseTraces(userId);
        await repo.anonymise(userId);
        return { result: keys, counts: { ...counts, files: keys.length } };
      },
      { last: true },
    );
    await this.media.purge(files);
  }

  private async leave(tx: Tx, roomId: string, userId: string): Promise<{ changed: boolean }> {
    const repo = this.rooms.with(tx);
    const room = await repo.findById(roomId, { lock: true });
    if (!room || !(await repo.removeParticipant(roomId, userId))) return { changed: false };
    // The durable log (webhooks), as a departure through rooms/ writes it.
    await this.eventLog.append(tx, [{ type: 'participant.removed', roomId, payload: { chatRoomId: roomId, userId } }]);
    const updated = [{ type: 'room.updated', roomId, payload: { roomId } }];
    if (room.type === 'support') {
      if (room.createdBy !== userId || room.status !== 'open') return { changed: false };
      await repo.update(roomId, { status: 'closed' });
      await this.eventLog.append(tx, updated);
      return { changed: true };
    }
    const promoted = await repo.promoteOwnerIfNone(roomId);
    if (promoted !== undefined) {
      await repo.touch(roomId);
      await this.eventLog.append(tx, updated);
    }
    return { changed: promoted !== undefined };
  }

  /**
   * One reaction_updated per message, whatever number of emoji the user had on it: they share one changeSeq, and the
   * event carries the whole summary, so a client converges from it alone.
   */
  private announceUnreact(r: NonNullable<Awaited<ReturnType<EraseRepository['unreact']>>>, userId: string): void {
    const emoji = r.emoji[0]!;
    this.bus.publish('reaction.updated', {
      chatRoomId: r.roomId,
      messageId: r.messageId,
      changeSeq: r.changeSeq,
      emoji,
      userId,
      added: false,
      count: r.reactions.find((x) => x.emoji === emoji)?.count ?? 0,
      reactions: r.reactions,
    });
  }
}
