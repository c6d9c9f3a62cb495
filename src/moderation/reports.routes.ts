import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Feature } from '../feature.js';
import { errorResponses } from '../contract/common.js';
import { MessageParams } from '../contract/messages.js';
import {
  AdminReportSchema,
  CreateReportBody,
  ReportParams,
  ReportSchema,
  ReportsPage,
  ReportsQuery,
  UpdateReportBody,
} from '../contract/reports.js';
import type { ReportsService } from './reports.service.js';

const tags = ['moderation'];
const ADMIN = 'Platform `admin` only (403 for anyone else, `support` included).';

export const reportsRoutes: FastifyPluginAsyncTypebox<{ reports: ReportsService }> = async (app, { reports }) => {
  app.post(
    '/messages/:id/reports',
    {
      schema: {
        operationId: 'reportMessage',
        tags,
        summary: 'Report a message to the platform admins',
        description:
          'By anyone who can see the message (anyone else: 404, as for a message that does not exist). One open report ' +
          'per reporter and message: reporting it again answers the open report (200) unchanged. Your own message: 400; ' +
          'a deleted message: 409. The report keeps the message as it is now, whatever happens to it later.',
        params: MessageParams,
        body: CreateReportBody,
        response: { 201: ReportSchema, 200: ReportSchema, ...errorResponses(400, 404, 409) },
      },
    },
    async (req, reply) => {
      const { report, created } = await reports.report(req.auth, req.params.id, req.body);
      return reply.code(created ? 201 : 200).send(report);
    },
  );

  app.get(
    '/admin/reports',
    {
      schema: {
        operationId: 'listReports',
        tags,
        summary: 'The report queue of one status (default open), keyset-paged',
        description: `${ADMIN} Open reports oldest first (work through them in order); resolved and dismissed newest first.`,
        querystring: ReportsQuery,
        response: { 200: ReportsPage, ...errorResponses(400, 403) },
      },
    },
    async (req) => reports.list(req.auth, req.query),
  );

  app.patch(
    '/admin/reports/:id',
    {
      schema: {
        operationId: 'decideReport',
        tags,
        summary: 'Decide a report: resolve (optionally acting), dismiss, or reopen',
        description:
          `${ADMIN} An \`action\` needs \`status: "resolved"\` (else 400). \`delete_message\` deletes the message for ` +
          'everyone (as DELETE /messages/:id; a deleted one stays as it is); `suspend_sender` suspends its sender (as PUT ' +
          '/admin/suspensions/:userId, with the optional `until` and `reason` given here, which only go with it). The ' +
          'decision replaces the previous one; reopening clears the resolution (409 if the reporter has opened another ' +
          'report of the message meanwhile).',
        params: ReportParams,
        body: UpdateReportBody,
        response: { 200: AdminReportSchema, ...errorResponses(400, 403, 404, 409) },
      },
    },
    async (req) => reports.decide(req.auth, req.params.id, req.body),
  );
};

export function reportsFeature(reports: ReportsService): Feature {
  return { name: 'reports', routes: (api) => api.register(reportsRoutes, { reports }) };
}
