import { Type, type Static } from '@sinclair/typebox';
import { Cursor, IdParam, IsoDate, Nullable, PageLimit } from './common.js';

/** Every event a webhook can receive; `*` in a webhook's `events` stands for all of them, present and future. */
export const WEBHOOK_EVENTS = [
  'message.created',
  'message.updated',
  'message.deleted',
  'reaction.added',
  'reaction.removed',
  'room.created',
  'room.updated',
  'participant.added',
  'participant.removed',
  'report.created',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

export const MAX_WEBHOOK_URL_LENGTH = 2048;

const EventName = Type.Union([...WEBHOOK_EVENTS.map((e) => Type.Literal(e)), Type.Literal('*')], {
  description: 'An event type, or `*` (alone) for every type',
});

export const CreateWebhookBody = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      maxLength: MAX_WEBHOOK_URL_LENGTH,
      description:
        'Absolute https URL of a public host (http and private addresses only with WEBHOOK_ALLOW_PRIVATE_URLS=1); checked again at each delivery',
    }),
    events: Type.Array(EventName, { minItems: 1, maxItems: WEBHOOK_EVENTS.length, uniqueItems: true }),
    secret: Type.Optional(
      Type.String({
        minLength: 16,
        maxLength: 256,
        pattern: '^[\\x21-\\x7e]+$',
        errorMessage: 'must be 16 to 256 printable ASCII characters without spaces',
        description: 'The HMAC key of X-Chat-Signature; 32 random bytes (base64url) are generated when absent',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateWebhookInput = Static<typeof CreateWebhookBody>;

export const Webhook = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  createdAt: IsoDate,
});
export type WebhookView = Static<typeof Webhook>;

export const CreatedWebhook = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  secret: Type.String({ description: 'Shown here only: no other answer carries it' }),
  createdAt: IsoDate,
});
export type CreatedWebhookView = Static<typeof CreatedWebhook>;

export const WebhookList = Type.Object({ data: Type.Array(Webhook, { description: 'Oldest first; without secrets' }) });
export type WebhookListView = Static<typeof WebhookList>;

export const WebhookParams = Type.Object({ id: IdParam });

export const DeliveriesQuery = Type.Object({
  limit: PageLimit,
  cursor: Type.Optional(Cursor),
});
export type DeliveriesInput = Static<typeof DeliveriesQuery>;

export const WebhookDelivery = Type.Object({
  eventId: Type.String({ description: 'The `id` of the body: the same for every attempt and every webhook' }),
  type: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  statusCode: Nullable(
    Type.Integer({ description: "The last attempt's HTTP status; null before any answer (or after a timeout, reset, DNS failure)" }),
  ),
  attempts: Type.Integer(),
  nextRetryAt: Nullable(
    Type.String({
      format: 'date-time',
      description: 'When a pending delivery is tried next; null when settled, or while it waits behind an earlier event of its room',
    }),
  ),
  lastError: Type.Optional(Type.String()),
  createdAt: IsoDate,
  deliveredAt: Nullable(IsoDate),
});
export type WebhookDeliveryView = Static<typeof WebhookDelivery>;

export const DeliveriesPage = Type.Object({
  data: Type.Array(WebhookDelivery, { description: 'Newest first' }),
  nextCursor: Nullable(Type.String()),
});
export type DeliveriesPageView = Static<typeof DeliveriesPage>;
