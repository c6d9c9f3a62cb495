import { createECDH } from 'node:crypto';
import { devSecret, devVapidKeys } from './dev-secrets.js';
import type { Basics, EnvReader } from './readers.js';

export interface NotifyConfig {
  webhookUrl: string | undefined;
  webhookSecret: string | undefined;
  coalesceMs: number;
  /** How long one delivery (webhook POST or push request) may take before it counts as failed and is retried. */
  timeoutMs: number;
  /** Tries per delivery before it is given up (and logged). */
  maxAttempts: number;
  /** The first retry waits about this long; each next one twice as long. */
  retryBaseMs: number;
  /** undefined: Web Push is off (production without VAPID keys). */
  vapid: VapidConfig | undefined;
  /**
   * PUSH_ALLOW_PRIVATE_ENDPOINTS=1: push endpoints may be plain http and resolve to loopback, private or link-local
   * addresses (a push service inside the operator's network, tests). Off: https and public addresses only.
   */
  pushAllowPrivateEndpoints: boolean;
}

export interface VapidConfig {
  /** base64url of the uncompressed P-256 point (65 bytes): what browsers take as applicationServerKey. */
  publicKey: string;
  /** base64url of the 32-byte private scalar. */
  privateKey: string;
  /** mailto: or https: contact that push services may use to reach the operator. */
  subject: string;
  /** true when the keys were generated into dataDir (development only). */
  generated: boolean;
}

export function notifyConfig(read: EnvReader, basics: Basics): NotifyConfig {
  const webhookUrl = read.url('NOTIFY_WEBHOOK_URL', ['http:', 'https:']);
  let webhookSecret = read.str('NOTIFY_WEBHOOK_SECRET');
  if (webhookUrl && !webhookSecret) {
    if (basics.production) read.problems.push('NOTIFY_WEBHOOK_SECRET is required with NOTIFY_WEBHOOK_URL when NODE_ENV=production');
    else webhookSecret = devSecret(basics.dataDir, 'webhook-secret');
  }
  return {
    webhookUrl,
    webhookSecret,
    coalesceMs: read.int('NOTIFY_COALESCE_MS', 2000, 0, 600_000),
    timeoutMs: read.int('NOTIFY_TIMEOUT_MS', 10_000, 100, 120_000),
    maxAttempts: read.int('NOTIFY_MAX_ATTEMPTS', 8, 1, 100),
    retryBaseMs: read.int('NOTIFY_RETRY_BASE_MS', 1000, 10, 3_600_000),
    vapid: vapidConfig(read, basics),
    pushAllowPrivateEndpoints: read.bool('PUSH_ALLOW_PRIVATE_ENDPOINTS', false),
  };
}

/**
 * VAPID keys and subject. All three in production when Web Push is wanted (none: Web Push is off); in development the
 * keys are generated into DATA_DIR once, so browser subscriptions (bound to the public key) survive restarts.
 */
function vapidConfig(read: EnvReader, { production, dataDir }: Basics): VapidConfig | undefined {
  const { problems } = read;
  let publicKey = read.str('VAPID_PUBLIC_KEY');
  let privateKey = read.str('VAPID_PRIVATE_KEY');
  let subject = read.str('VAPID_SUBJECT');
  let generated = false;
  if (!publicKey && !privateKey) {
    if (production) {
      if (subject) problems.push('VAPID_SUBJECT is set but VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY are not (all three turn Web Push on)');
      return undefined;
    }
    ({ publicKey, privateKey } = devVapidKeys(dataDir));
    generated = true;
  } else if (!publicKey || !privateKey) {
    problems.push('VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY go together');
    return undefined;
  } else {
    privateKey = withLeadingZeros(privateKey);
    const problem = vapidKeyProblem(publicKey, privateKey);
    if (problem) problems.push(problem);
  }
  if (subject === undefined) {
    if (production) problems.push('VAPID_SUBJECT (a mailto: or https: contact) is required with the VAPID keys when NODE_ENV=production');
    subject = 'mailto:chat-service@localhost';
  } else if (!/^(mailto:\S+@\S+|https:\/\/\S+)$/.test(subject)) {
    problems.push('VAPID_SUBJECT must be a mailto: address or an https: URL');
  }
  return { publicKey, privateKey, subject, generated };
}

/**
 * Node's ECDH.getPrivateKey() drops the scalar's leading zero bytes (1 key in 256 comes out 31 bytes long), while
 * web-push insists on exactly 32: the same key, left-padded, so such a key works instead of failing at start.
 */
function withLeadingZeros(privateKey: string): string {
  const bytes = base64url(privateKey);
  if (bytes.length === 0 || bytes.length >= 32) return privateKey;
  return Buffer.concat([Buffer.alloc(32 - bytes.length), bytes]).toString('base64url');
}

/** The bytes of unpadded base64url text; none when the text is not that. */
const base64url = (text: string): Buffer => (/^[A-Za-z0-9_-]+$/.test(text) ? Buffer.from(text, 'base64url') : Buffer.alloc(0));

function vapidKeyProblem(publicKey: string, privateKey: string): string | undefined {
  const pub = base64url(publicKey);
  if (pub.length !== 65 || pub[0] !== 4)
    return 'VAPID_PUBLIC_KEY must be the base64url (no padding) of an uncompressed P-256 point (65 bytes)';
  const priv = base64url(privateKey);
  if (priv.length !== 32) return 'VAPID_PRIVATE_KEY must be the base64url (no padding) of a 32-byte P-256 private key';
  try {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(priv);
    // A mismatched pair would be refused by every push service (403), silently; better to stop at start.
    if (!ecdh.getPublicKey().equals(pub)) return 'VAPID_PUBLIC_KEY is not the public key of VAPID_PRIVATE_KEY';
  } catch {
    return 'VAPID_PRIVATE_KEY is not a valid P-256 private key';
  }
  return undefined;
}
