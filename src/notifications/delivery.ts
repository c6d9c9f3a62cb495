import { createHash, createHmac } from 'node:crypto';
import type webpush from 'web-push';
import type { VapidConfig } from '../config.js';

/** What became of one try; the worker turns it into delete / retry / forget-the-subscription. */
export type Outcome =
  | { kind: 'sent' }
  | { kind: 'gone'; status: number }
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'failed'; reason: string }
  | { kind: 'stopped' };

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + raw body)>`; the timestamp lets receivers refuse replays. */
export function webhookSignature(secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

export interface Attempt {
  timeoutMs: number;
  /** Aborted when the worker stops: the try is cut short and handed back for another instance. */
  stop: AbortSignal;
}

export async function postWebhook(url: string, secret: string, body: string, a: Attempt): Promise<Outcome> {
  return send(a, 'webhook', () =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'chat-service', 'x-chat-signature': webhookSignature(secret, body) },
      body,
      signal: AbortSignal.any([a.stop, AbortSignal.timeout(a.timeoutMs)]),
      // A redirect would turn the POST into a GET or carry the body somewhere unintended; the URL must be exact.
      redirect: 'manual',
    }),
  );
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
 * web-push builds the request (aes128gcm encryption for the subscription's keys, the VAPID JWT); fetch sends it, so
 * the timeout and shutdown apply, and http://localhost endpoints work in development.
 */
export async function sendPush(target: PushTarget, payload: string, vapid: VapidConfig, opts: PushOptions, a: Attempt): Promise<Outcome> {
  const webpush = await loadWebPush();
  const details = webpush.generateRequestDetails({ endpoint: target.endpoint, keys: { p256dh: target.p256dh, auth: target.auth } }, payload, {
    vapidDetails: { subject: vapid.subject, publicKey: vapid.publicKey, privateKey: vapid.privateKey },
    contentEncoding: 'aes128gcm',
    TTL: opts.ttlS,
    urgency: opts.urgency,
    topic: opts.topic,
  });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(details.headers)) if (k.toLowerCase() !== 'content-length') headers[k] = String(v);
  return send(a, 'push', () =>
    fetch(details.endpoint, { method: 'POST', headers, body: details.body, signal: AbortSignal.any([a.stop, AbortSignal.timeout(a.timeoutMs)]), redirect: 'manual' }),
  );
}

export const pushTopic = (roomId: string): string => createHash('sha256').update(roomId).digest('base64url').slice(0, 32);

async function send(a: Attempt, channel: 'webhook' | 'push', request: () => Promise<Response>): Promise<Outcome> {
  let res: Response;
  try {
    res = await request();
  } catch (err) {
    if (a.stop.aborted) return { kind: 'stopped' };
    const e = err as { name?: string; cause?: { code?: string; message?: string }; message?: string };
    const reason = e.name === 'TimeoutError' ? `no answer within ${a.timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message ?? 'request failed');
    return { kind: 'retry', reason };
  }
  // The answer's body is not needed; reading it out frees the connection for reuse.
  await res.arrayBuffer().catch(() => undefined);
  const status = res.status;
  if (status >= 200 && status < 300) return { kind: 'sent' };
  // RFC 8030: the subscription has expired or was unsubscribed; it will never work again.
  if (channel === 'push' && (status === 404 || status === 410)) return { kind: 'gone', status };
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    return { kind: 'retry', reason: `HTTP ${status}`, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }
  // 400, 401/403 (a VAPID key the push service does not accept), 413 and the like: trying again cannot help.
  return { kind: 'failed', reason: `HTTP ${status}` };
}

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
