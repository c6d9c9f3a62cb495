import type { ReadRouting } from '../db/replicas.js';
import { assertAdmin } from '../auth/admin.js';
import type { AuthContext } from '../auth/tokens.js';
import type { Db } from '../db/client.js';
import { notFound } from '../errors.js';
import { isId, newId } from '../ids.js';
import type { MessageChangesService } from '../messages/index.js';
import type { AdminJobView, EraseAcceptedView, PurgeInput, PurgeResultView } from '../contract/admin.js';
import { AdminRepository, type JobRow } from './admin.repository.js';
import { exportUser } from './export.js';

/** A purge is one batch, however many messages: the contract's "one batch" (one transaction, one changeSeq range). */
const PURGE_LIMIT = Number.MAX_SAFE_INTEGER;

function jobView(job: JobRow): AdminJobView {
  return {
    id: job.id,
    type: 'erase_user',
    userId: job.subject,
    status: job.status,
    progress: Object.fromEntries(Object.entries(job.progress).map(([k, v]) => [k, Number(v)])),
    createdAt: job.createdAt.toISOString(),
    finishedAt: job.finishedAt?.toISOString() ?? null,
    ...(job.error ? { error: job.error } : {}),
  };
}

/** The platform admin's tools on messages and users: purge, export, erase (a background job). Admins only. */
export class AdminService {
  private readonly repo: AdminRepository;

  constructor(
    private readonly db: Db,
    private readonly changes: MessageChangesService,
    /** Wakes the job runner of this instance (others find the job on their next poll). */
    private readonly jobQueued: () => void,
    private readonly replicas: Pick<ReadRouting, 'readerFor'>,
  ) {
    this.repo = new AdminRepository(db);
  }

  /** Every live message of `userId` in the room (from `sinceSeq`) becomes a tombstone deleted by the admin, in one batch. */
  async purge(auth: AuthContext, roomId: string, input: PurgeInput): Promise<PurgeResultView> {
    assertAdmin(auth);
    if (!isId(roomId) || (await this.repo.roomLastChangeSeq(roomId)) === undefined) throw notFound('Room');
    const filter = input.sinceSeq === undefined ? { senderId: input.userId } : { senderId: input.userId, fromSeq: input.sinceSeq };
    const batch = await this.changes.tombstoneMany(roomId, filter, auth.userId, PURGE_LIMIT);
    const lastChangeSeq = batch.lastChangeSeq ?? (await this.repo.roomLastChangeSeq(roomId));
    if (lastChangeSeq === undefined) throw notFound('Room');
    return { deleted: batch.rows.length, lastChangeSeq };
  }

  /** Checks the caller and the user before the first byte goes out; the document itself is read while it is sent. */
  async exportUser(auth: AuthContext, userId: string): Promise<AsyncIterable<string>> {
    assertAdmin(auth);
    if (!(await this.repo.userExists(userId))) throw notFound('User');
    // Read where the user's own writes are (a replica that has replayed them, or the primary), page by page.
    return exportUser(await this.replicas.readerFor(userId), userId);
  }

  /**
   * Queues the erase of a user, or answers the erase already queued or running for them. A user never seen (no token
   * of theirs ever reached the service) is 404; erasing an erased user again runs a job that finds nothing left.
   */
  async erase(auth: AuthContext, userId: string): Promise<EraseAcceptedView> {
    assertAdmin(auth);
    if (!(await this.repo.userExists(userId))) throw notFound('User');
    const { id, created } = await this.db.transaction((tx) => this.repo.with(tx).queueErase(newId(), userId, auth.userId));
    if (created) this.jobQueued();
    return { jobId: id };
  }

  async job(auth: AuthContext, jobId: string): Promise<AdminJobView> {
    assertAdmin(auth);
    const job = isId(jobId) ? await this.repo.job(jobId) : undefined;
    if (!job) throw notFound('Job');
    return jobView(job);
  }
}
