import { webhookSignature } from '../net/signature.js';
import { createHash } from 'node:crypto';
import type webpush from 'web-push';
import type { NotifyConfig, VapidConfig } from '../config.js';
import { checkDestination, DestinationRefused, postTo, type Destination, type DestinationPolicy, type Resolver } from '../net/outbound.js';

/** What became of one try; the worker turns it into delete / retry / forget-the-subscription. */
export type Outcome =
  | { kind: 'sent' }
  | { kind: 'gone'; status: number }
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'failed'; reason: string }
  /** The endpoint is not (or no longer) a destination the service may reach: the subscription goes. */
  | { kind: 'refused'; reason: string; origin: string }
  | { kind: 'stopped' };

export interface Attempt {
  timeoutMs: number;
  /** Aborted when the worker stops: the try is cut short and handed back for another instance. */
  stop: AbortSignal;
}

export async function postWebhook(url: string, secret: string, body: string, a: Attempt): Promise<Outcome> {
  // The operator's own configuration, not a user's: not held to the outbound destination rules.
  return send(a, 'webhook', async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'chat-service', 'x-chat-signature': webhookSignature(secret, body) },
      body,
      signal: AbortSignal.any([a.stop, AbortSignal.timeout(a.timeoutMs)]),
      // A redirect would turn the POST into a GET or carry the body somewhere unintended; the URL must be exact.
      redirect: 'manual',
    });
    // The answer's body is not needed; reading it out frees the connection for reuse.
    await res.arrayBuffer().catch(() => undefined);
    return { status: res.status, retryAfter: res.headers.get('retry-after') ?? undefined };
  });
}

/** Where push endpoints may point (the API contract, "Privacy"; README "Notifications"): public https hosts, unless the operator allows private ones. */
export function pushEndpointPolicy(notify: Pick<NotifyConfig, 'pushAllowPrivateEndpoints'>, resolve: Resolver): DestinationPolicy {
  const allow = notify.pushAllowPrivateEndpoints;
  return { allowPrivate: allow, allowHttp: allow, resolve };
}

export interface PushTarget {
  endpoint: string;
  p256dh: string;
  auth: string;
}

export interface PushOptions {
  /** One per room: a push service holding an undelivered message for the room replaces it with the newer one. */
  topic: string;
  urgency: 'normal' | 'high';
  ttlS: number;
}

let webPush: Promise<typeof webpush> | undefined;
// Loaded by the first push rather than at start: a server without subscribers never needs it.
const loadWebPush = (): Promise<typeof webpush> => (webPush ??= import('web-push').then((m) => m.default));

/**
 * web-push builds the request (aes128gcm encryption for the subscription's keys, the VAPID JWT); postTo sends it to
 * the address checked just before (the endpoint's host may resolve elsewhere than when it was registered), with the
 * timeout and shutdown applied, and over http when the operator allows private endpoints.
 */
export async function sendPush(
  target: PushTarget,
  payload: string,
  vapid: VapidConfig,
  opts: PushOptions,
  a: Attempt,
  policy: DestinationPolicy,
): Promise<Outcome> {
  let dest: Destination;
  try {
    dest = await checkDestination(target.endpoint, policy);
  } catch (err) {
    if (!(err instanceof DestinationRefused)) throw err;
    // A host without an answer now may have one later; one that answers with a refused address is not tried again.
    if (err.refusal === 'unresolvable') return { kind: 'retry', reason: 'the endpoint host did not resolve' };
    return { kind: 'refused', reason: err.range ? `${err.message} (${err.range})` : err.message, origin: originOf(target.endpoint) };
  }
  const webpush = await loadWebPush();
  const details = webpush.generateRequestDetails(
    { endpoint: target.endpoint, keys: { p256dh: target.p256dh, auth: target.auth } },
    payload,
    {
      vapidDetails: { subject: vapid.subject, publicKey: vapid.publicKey, privateKey: vapid.privateKey },
      contentEncoding: 'aes128gcm',
      TTL: opts.ttlS,
      urgency: opts.urgency,
      topic: opts.topic,
    },
  );
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(details.headers)) if (k.toLowerCase() !== 'content-length') headers[k] = String(v);
  return send(a, 'push', async () => {
    const res = await postTo(dest, { headers, body: details.body ?? '', stop: a.stop, timeoutMs: a.timeoutMs });
    return { status: res.status, retryAfter: res.header('retry-after') };
  });
}

/** scheme://host:port of an endpoint; its path is a capability (whoever has it can push) and stays out of logs. */
function originOf(endpoint: string): string {
  try {
    return new URL(endpoint).origin;
  } catch {
    return 'not a URL';
  }
}

export const pushTopic = (roomId: string): string => createHash('sha256').update(roomId).digest('base64url').slice(0, 32);

interface Answer {
  status: number;
  retryAfter: string | undefined;
}

async function send(a: Attempt, channel: 'webhook' | 'push', request: () => Promise<Answer>): Promise<Outcome> {
  let res: Answer;
  try {
    res = await request();
  } catch (err) {
    if (a.stop.aborted) return { kind: 'stopped' };
    // fetch wraps the cause (TypeError "fetch failed"); node:http gives it directly, an abort carries the timeout.
    const e = err as { name?: string; code?: string; cause?: { name?: string; code?: string; message?: string }; message?: string };
    const timedOut = e.name === 'TimeoutError' || e.cause?.name === 'TimeoutError';
    const reason = timedOut
      ? `no answer within ${a.timeoutMs} ms`
      : (e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? 'request failed');
    return { kind: 'retry', reason };
  }
  const status = res.status;
  if (status >= 200 && status < 300) return { kind: 'sent' };
  // RFC 8030: the subscription has expired or was unsubscribed; it will never work again.
  if (channel === 'push' && (status === 404 || status === 410)) return { kind: 'gone', status };
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(res.retryAfter);
    return { kind: 'retry', reason: `HTTP ${status}`, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }
  // 400, 401/403 (a VAPID key the push service does not accept), 413 and the like: trying again cannot help.
  return { kind: 'failed', reason: `HTTP ${status}` };
}

function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
