import { assertAdmin } from '../auth/admin.js';
import type { AuthContext } from '../auth/tokens.js';
import { isUniqueViolation, type Db } from '../db/client.js';
import { AppError, invalid, notFound } from '../errors.js';
import type { EventLogRepository } from '../event-log/event-log.repository.js';
import { decodeCursor, encodeCursor, isId, newId } from '../ids.js';
import type { MessageChangesService, MessagePresenter, MessagesRepository } from '../messages/index.js';
import type { RoomAccessGuard } from '../rooms/rooms.access.js';
import type { MessageView } from '../contract/messages.js';
import type {
  AdminReportView,
  CreateReportInput,
  ReportAction,
  ReportReason,
  ReportStatus,
  ReportsInput,
  ReportsPageView,
  ReportView,
  UpdateReportInput,
} from '../contract/reports.js';
import type { ReportKey, ReportRow, ReportsRepository } from './reports.repository.js';
import { checkedReason, checkedUntil, type SuspensionsService } from './suspensions.service.js';

// The columns are text under CHECK constraints listing exactly the contract's values.
const reporterView = (r: ReportRow): ReportView => ({
  id: r.id,
  messageId: r.messageId,
  reporterId: r.reporterId,
  reason: r.reason as ReportReason,
  details: r.details,
  status: r.status as ReportStatus,
  createdAt: r.createdAt.toISOString(),
});

/** The report as moderators see it; also the `data` of the `report.created` webhook. */
export const adminReportView = (r: ReportRow): AdminReportView => ({
  ...reporterView(r),
  chatRoomId: r.roomId,
  action: r.action as ReportAction | null,
  resolvedAt: r.resolvedAt ? r.resolvedAt.toISOString() : null,
  resolvedBy: r.resolvedBy,
  message: r.message as MessageView,
});

/** A concurrent decision can close the open report a repeat found missing in between; a few tries settle it. */
const REPORT_ATTEMPTS = 3;

/**
 * Reports of messages by the people who can see them, and the admins' queue. A report keeps the message as it was
 * reported; resolving one may act on the message (a real delete for everyone) or on its sender (a suspension).
 */
export class ReportsService {
  constructor(
    private readonly db: Db,
    private readonly repo: ReportsRepository,
    private readonly messages: MessagesRepository,
    private readonly guard: RoomAccessGuard,
    private readonly presenter: MessagePresenter,
    private readonly changes: MessageChangesService,
    private readonly suspensions: SuspensionsService,
    private readonly eventLog: EventLogRepository,
  ) {}

  /** `created` false: the caller's open report of this message, unchanged (one open report per reporter and message). */
  async report(auth: AuthContext, messageId: string, input: CreateReportInput): Promise<{ report: ReportView; created: boolean }> {
    // The read rule of GET /messages/:id; a message the caller cannot see answers word for word as one that does not exist.
    const row = isId(messageId) ? await this.messages.findById(messageId) : undefined;
    if (!row) throw notFound('Message');
    await this.guard.messageReader(auth, row.roomId);
    if (row.deletedAt) throw new AppError('CONFLICT', 'the message was deleted: there is nothing left to report');
    if (row.senderId === auth.userId) throw invalid('you cannot report your own message');
    // As everyone sees it (no viewer's own reactions): what the moderators judge.
    const message = await this.presenter.one(row);
    const details = input.details?.trim() ? input.details : null;
    for (let attempt = 0; attempt < REPORT_ATTEMPTS; attempt++) {
      const outcome = await this.db.transaction(async (tx) => {
        const repo = this.repo.with(tx);
        const created = await repo.insertOpen({
          id: newId(),
          messageId: row.id,
          roomId: row.roomId,
          reporterId: auth.userId,
          reason: input.reason,
          details,
          message,
        });
        if (created) {
          const payload = adminReportView(created) as unknown as Record<string, unknown>;
          await this.eventLog.append(tx, [{ type: 'report.created', roomId: row.roomId, payload }]);
          return { report: reporterView(created), created: true };
        }
        const open = await repo.findOpen(row.id, auth.userId);
        return open ? { report: reporterView(open), created: false } : undefined;
      });
      if (outcome) return outcome;
    }
    throw new AppError('CONFLICT', 'the report changed meanwhile; try again');
  }

  async list(auth: AuthContext, q: ReportsInput): Promise<ReportsPageView> {
    assertAdmin(auth);
    const status = q.status ?? 'open';
    const after = q.cursor === undefined ? null : decodeCursor<ReportKey>(q.cursor, { at: 'time', id: 'id' });
    if (after === null && q.cursor !== undefined) throw invalid('cursor is not valid', '/cursor');
    const limit = q.limit ?? 50;
    // The open queue is worked through in arrival order; closed reports are looked up, the latest most often.
    const rows = await this.repo.list(status, status !== 'open', after, limit + 1);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      data: page.map(adminReportView),
      nextCursor: rows.length > limit && last ? encodeCursor({ at: last.createdAt.getTime(), id: last.id }) : null,
    };
  }

  /**
   * Sets a report's status; resolving it may also act. Everything is checked before anything is done; the action runs
   * first (each is idempotent: a delete of a tombstone changes nothing, a suspension is replaced), so if recording the
   * decision fails, the same request can simply be made again.
   */
  async decide(auth: AuthContext, reportId: string, input: UpdateReportInput): Promise<AdminReportView> {
    assertAdmin(auth);
    const action = input.action ?? null;
    if (action !== null && input.status !== 'resolved')
      throw invalid('an action is taken only when resolving (status "resolved")', '/action');
    if (action !== 'suspend_sender') {
      if (input.until !== undefined) throw invalid('until goes with the action suspend_sender', '/until');
      if (input.reason !== undefined) throw invalid('reason goes with the action suspend_sender', '/reason');
    }
    const until = checkedUntil(input.until, '/until');
    if (input.reason !== undefined) checkedReason(input.reason, '/reason');
    const report = isId(reportId) ? await this.repo.findById(reportId) : undefined;
    if (!report) throw notFound('Report');

    if (action === 'delete_message') await this.changes.delete(auth, report.messageId);
    if (action === 'suspend_sender') {
      const senderId = (report.message as MessageView).senderId;
      await this.suspensions.suspend(auth, senderId, {
        until: until?.toISOString() ?? null,
        reason: input.reason ?? `a reported message (${report.reason})`,
      });
    }
    try {
      const decided = await this.repo.decide(report.id, { status: input.status, action, by: auth.userId });
      if (!decided) throw notFound('Report');
      return adminReportView(decided);
    } catch (err) {
      if (isUniqueViolation(err, 'message_report_open_uq')) {
        throw new AppError('CONFLICT', 'the reporter has reported this message again since: that report is the open one');
      }
      throw err;
    }
  }
}
