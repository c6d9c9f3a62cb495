import { randomBytes } from 'node:crypto';
import { assertAdmin } from '../auth/admin.js';
import type { AuthContext } from '../auth/tokens.js';
import type { WebhooksConfig } from '../config/webhooks.js';
import { invalid, notFound } from '../errors.js';
import { decodeCursor, encodeCursor, isId, newId } from '../ids.js';
import { checkDestination, DestinationRefused, type DestinationPolicy, type Resolver } from '../net/outbound.js';
import type {
  CreatedWebhookView,
  CreateWebhookInput,
  DeliveriesInput,
  DeliveriesPageView,
  WebhookListView,
  WebhookView,
} from '../contract/webhooks.js';
import { logTypesOf } from './webhooks.consumer.js';
import type { WebhookRow, WebhooksRepository } from './webhooks.repository.js';

/** Where webhook URLs may point: the rule of push endpoints (public https hosts), unless the operator allows private ones. */
export function webhookUrlPolicy(config: WebhooksConfig, resolve: Resolver): DestinationPolicy {
  return { allowPrivate: config.allowPrivateUrls, allowHttp: config.allowPrivateUrls, resolve };
}

const view = (w: WebhookRow): WebhookView => ({ id: w.id, url: w.url, events: w.events, createdAt: w.createdAt.toISOString() });

/** Outgoing webhooks, for platform admins only: every method checks the role first. */
export class WebhooksService {
  private readonly policy: DestinationPolicy;

  constructor(
    private readonly repo: WebhooksRepository,
    config: WebhooksConfig,
    resolve: Resolver,
    /** Told after a webhook was added or removed: this instance starts or stops reading the log at once. */
    private readonly onChange: () => void,
  ) {
    this.policy = webhookUrlPolicy(config, resolve);
  }

  async create(auth: AuthContext, input: CreateWebhookInput): Promise<CreatedWebhookView> {
    assertAdmin(auth);
    if (input.events.includes('*') && input.events.length > 1) throw invalid('"*" stands for every event and goes alone', '/events');
    try {
      await checkDestination(input.url, this.policy);
    } catch (err) {
      if (err instanceof DestinationRefused) throw invalid(`the URL ${err.message}`, '/url');
      throw err;
    }
    const secret = input.secret ?? randomBytes(32).toString('base64url');
    const row = await this.repo.create({ id: newId(), url: input.url, events: input.events, secret, createdBy: auth.userId }, logTypesOf);
    this.onChange();
    return { ...view(row), secret };
  }

  async list(auth: AuthContext): Promise<WebhookListView> {
    assertAdmin(auth);
    return { data: (await this.repo.list()).map(view) };
  }

  async delete(auth: AuthContext, id: string): Promise<void> {
    assertAdmin(auth);
    if (!isId(id) || !(await this.repo.delete(id, logTypesOf))) throw notFound('Webhook');
    this.onChange();
  }

  async deliveries(auth: AuthContext, id: string, q: DeliveriesInput): Promise<DeliveriesPageView> {
    assertAdmin(auth);
    if (!isId(id) || !(await this.repo.exists(id))) throw notFound('Webhook');
    const after = q.cursor === undefined ? null : decodeCursor<{ id: number }>(q.cursor, { id: 'number' });
    if (after === null && q.cursor !== undefined) throw invalid('cursor is not valid', '/cursor');
    const limit = q.limit ?? 50;
    const rows = await this.repo.deliveries(id, after?.id ?? null, limit + 1);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      data: page.map((d) => ({
        eventId: d.eventId,
        type: d.type,
        status: d.status,
        statusCode: d.lastStatusCode,
        attempts: d.attempts,
        nextRetryAt: d.status === 'pending' && d.nextAttemptAt ? d.nextAttemptAt.toISOString() : null,
        ...(d.lastError ? { lastError: d.lastError } : {}),
        createdAt: d.createdAt.toISOString(),
        deliveredAt: d.deliveredAt?.toISOString() ?? null,
      })),
      nextCursor: rows.length > limit && last ? encodeCursor({ id: last.id }) : null,
    };
  }
}
