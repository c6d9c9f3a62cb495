import { Type, type Static } from '@sinclair/typebox';
import { IsoDate, Nullable, PLAIN_TEXT, PLAIN_TEXT_MESSAGE } from './common.js';

// Browsers give the keys unpadded; padding is accepted too, since some client libraries add it.
const BASE64URL = '^[A-Za-z0-9_-]+={0,2}$';

/** What `JSON.stringify(pushSubscription)` gives in a browser. */
export const SubscriptionBody = Type.Object(
  {
    endpoint: Type.String({
      minLength: 1,
      maxLength: 2048,
      description:
        'The push service URL: https, on a host that resolves to public addresses only (http and loopback, private or link-local hosts only where the operator sets PUSH_ALLOW_PRIVATE_ENDPOINTS=1)',
    }),
    expirationTime: Type.Optional(
      Nullable(Type.Number({ minimum: 0, description: 'Milliseconds since the epoch, as the browser gives it' })),
    ),
    keys: Type.Object(
      {
        p256dh: Type.String({ minLength: 1, maxLength: 200, pattern: BASE64URL, errorMessage: 'must be base64url' }),
        auth: Type.String({ minLength: 1, maxLength: 100, pattern: BASE64URL, errorMessage: 'must be base64url' }),
      },
      // keys is a record in the Push API; a browser adding one must not break registration.
      { additionalProperties: true },
    ),
  },
  // A subscription belongs to the caller: a `userId` (or any misspelt field) is refused, not silently ignored.
  { additionalProperties: false },
);
export type SubscriptionInput = Static<typeof SubscriptionBody>;

export const SubscriptionSchema = Type.Object({
  id: Type.String(),
  endpoint: Type.String(),
  expirationTime: Nullable(Type.Number()),
  createdAt: IsoDate,
  updatedAt: IsoDate,
});
export type SubscriptionView = Static<typeof SubscriptionSchema>;

export const SubscriptionList = Type.Object({ data: Type.Array(SubscriptionSchema) });
export type SubscriptionListView = Static<typeof SubscriptionList>;

export const DeleteSubscriptionBody = Type.Object(
  { endpoint: Type.String({ minLength: 1, maxLength: 2048, pattern: PLAIN_TEXT, errorMessage: PLAIN_TEXT_MESSAGE }) },
  { additionalProperties: false },
);

export const SubscriptionParams = Type.Object({ id: Type.String({ minLength: 1 }) });

export const VapidPublicKey = Type.Object({
  publicKey: Type.String({ description: 'base64url of the VAPID public key: the applicationServerKey for pushManager.subscribe()' }),
});
