import { Type, type Static } from '@sinclair/typebox';
import { Cursor, IdParam, IsoDate, Nullable, PLAIN_TEXT, PLAIN_TEXT_MESSAGE, PageLimit } from './common.js';
import { MessageRef } from './messages.js';
import { SuspensionReason, SuspensionUntil } from './suspensions.js';

export const REPORT_REASONS = ['spam', 'abuse', 'harassment', 'other'] as const;
export type ReportReason = (typeof REPORT_REASONS)[number];
export const REPORT_STATUSES = ['open', 'resolved', 'dismissed'] as const;
export type ReportStatus = (typeof REPORT_STATUSES)[number];
export const REPORT_ACTIONS = ['delete_message', 'suspend_sender'] as const;
export type ReportAction = (typeof REPORT_ACTIONS)[number];
export const MAX_REPORT_DETAILS = 1000;

const literals = <T extends readonly string[]>(values: T) => Type.Union(values.map((v) => Type.Literal(v)));

export const ReportReasonSchema = literals(REPORT_REASONS);
export const ReportStatusSchema = literals(REPORT_STATUSES);
export const ReportActionSchema = literals(REPORT_ACTIONS);

export const ReportDetails = Type.String({
  maxLength: MAX_REPORT_DETAILS,
  pattern: PLAIN_TEXT,
  errorMessage: PLAIN_TEXT_MESSAGE,
  description: 'Free text for the moderators; at most 1000 characters',
});

export const CreateReportBody = Type.Object(
  { reason: ReportReasonSchema, details: Type.Optional(Nullable(ReportDetails)) },
  { additionalProperties: false },
);
export type CreateReportInput = Static<typeof CreateReportBody>;

/** What the reporter is answered. */
export const ReportSchema = Type.Object({
  id: Type.String(),
  messageId: Type.String(),
  reporterId: Type.String(),
  reason: ReportReasonSchema,
  details: Nullable(Type.String()),
  status: ReportStatusSchema,
  createdAt: IsoDate,
});
export type ReportView = Static<typeof ReportSchema>;

/** What the admin queue shows, and the `data` of the `report.created` webhook. */
export const AdminReportSchema = Type.Object({
  id: Type.String(),
  messageId: Type.String(),
  chatRoomId: Type.String(),
  reporterId: Type.String(),
  reason: ReportReasonSchema,
  details: Nullable(Type.String()),
  status: ReportStatusSchema,
  action: Nullable(ReportActionSchema),
  createdAt: IsoDate,
  resolvedAt: Nullable(IsoDate),
  resolvedBy: Nullable(Type.String()),
  /** The message as it was when reported: kept when it is edited or deleted later. */
  message: MessageRef,
});
export type AdminReportView = Static<typeof AdminReportSchema>;

export const ReportParams = Type.Object({ id: IdParam });

export const ReportsQuery = Type.Object({
  status: Type.Optional(ReportStatusSchema),
  limit: PageLimit,
  cursor: Type.Optional(Cursor),
});
export type ReportsInput = Static<typeof ReportsQuery>;

export const ReportsPage = Type.Object({
  data: Type.Array(AdminReportSchema, { description: 'open: oldest report first (FIFO); resolved and dismissed: newest first' }),
  nextCursor: Nullable(Type.String()),
});
export type ReportsPageView = Static<typeof ReportsPage>;

export const UpdateReportBody = Type.Object(
  {
    status: ReportStatusSchema,
    action: Type.Optional(Nullable(ReportActionSchema)),
    until: Type.Optional(SuspensionUntil),
    reason: Type.Optional(SuspensionReason),
  },
  { additionalProperties: false },
);
export type UpdateReportInput = Static<typeof UpdateReportBody>;
