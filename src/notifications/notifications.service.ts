import { createECDH } from 'node:crypto';
import type { AuthContext } from '../auth/tokens.js';
import type { Config } from '../config.js';
import { AppError, notFound, invalid } from '../errors.js';
import { isId } from '../ids.js';
import { checkDestination, DestinationRefused, type Resolver } from '../net/outbound.js';
import { pushEndpointPolicy } from './delivery.js';
import type { NotificationsRepository, SubscriptionRow } from './notifications.repository.js';
import type { SubscriptionInput, SubscriptionView } from '../contract/notifications.js';

/** Browsers re-subscribe now and then without telling the old endpoint goodbye; older ones beyond this are dropped. */
export const MAX_SUBSCRIPTIONS_PER_USER = 20;
const PREVIEW_CODE_POINTS = 200;

/** Web Push subscriptions of the caller: register, list, remove. Nobody sees or removes another user's. */
export class PushSubscriptionsService {
  constructor(
    private readonly repo: NotificationsRepository,
    private readonly config: Pick<Config, 'notify'>,
    private readonly resolve: Resolver,
  ) {}

  vapidPublicKey(): { publicKey: string } {
    const vapid = this.config.notify.vapid;
    if (!vapid) throw new AppError('NOT_FOUND', 'Web Push is not configured on this server');
    return { publicKey: vapid.publicKey };
  }

  async register(auth: AuthContext, input: SubscriptionInput): Promise<{ subscription: SubscriptionView; created: boolean }> {
    this.vapidPublicKey();
    const p256dh = decodeKey(input.keys.p256dh, 65, '/keys/p256dh');
    const authSecret = decodeKey(input.keys.auth, 16, '/keys/auth');
    try {
      // Off the curve, the push would fail at every send; better to say so now.
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      ecdh.computeSecret(p256dh);
    } catch {
      throw invalid('must be a P-256 public key (an uncompressed point)', '/keys/p256dh');
    }
    const expiresAt = input.expirationTime == null ? null : new Date(input.expirationTime);
    if (expiresAt && Number.isNaN(expiresAt.getTime())) throw invalid('must be a time in milliseconds since the epoch', '/expirationTime');
    // Last: it asks DNS, which the checks above need not wait for.
    const endpoint = await this.checkEndpoint(input.endpoint);
    const { row, created } = await this.repo.saveSubscription(
      auth.userId,
      { endpoint, p256dh: p256dh.toString('base64url'), auth: authSecret.toString('base64url'), expiresAt },
      MAX_SUBSCRIPTIONS_PER_USER,
    );
    return { subscription: view(row), created };
  }

  async list(auth: AuthContext): Promise<{ data: SubscriptionView[] }> {
    return { data: (await this.repo.listSubscriptions(auth.userId)).map(view) };
  }

  async remove(auth: AuthContext, by: { id: string } | { endpoint: string }): Promise<void> {
    if ('id' in by && !isId(by.id)) throw notFound('Subscription');
    if (!(await this.repo.deleteSubscription(auth.userId, by))) throw notFound('Subscription');
  }

  /**
   * The service will POST to this URL whenever the user is notified: it must not reach into the operator's network
   * (the API contract, "Privacy"; README "Notifications"). Checked again at every send, since the host's DNS answer may change.
   */
  private async checkEndpoint(raw: string): Promise<string> {
    try {
      await checkDestination(raw, pushEndpointPolicy(this.config.notify, this.resolve));
    } catch (err) {
      if (err instanceof DestinationRefused) throw invalid(err.message, '/endpoint');
      throw err;
    }
    // Kept as given: the browser gives the same string again to unsubscribe.
    return raw;
  }
}

function decodeKey(value: string, bytes: number, path: string): Buffer {
  const decoded = Buffer.from(value.replace(/=+$/, ''), 'base64url');
  if (decoded.length !== bytes) throw invalid(`must decode to ${bytes} bytes (got ${decoded.length})`, path);
  return decoded;
}

function view(row: SubscriptionRow): SubscriptionView {
  return {
    id: row.id,
    endpoint: row.endpoint,
    expirationTime: row.expiresAt ? row.expiresAt.getTime() : null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const MEDIA_LABELS: Record<string, [string, string]> = {
  image: ['📷 Photo', 'photos'],
  video: ['🎥 Video', 'videos'],
  audio: ['🎵 Audio', 'audio files'],
  document: ['📄 Document', 'documents'],
};

/** One line of the message's text; for files alone, what they are ("📷 Photo", "📄 plan.pdf"). */
export function previewOf(message: { content: string; media: ReadonlyArray<{ kind: string; fileName?: string }> }): string {
  const text = message.content.replace(/\s+/g, ' ').trim();
  if (text) return truncate(text, PREVIEW_CODE_POINTS);
  const first = message.media[0];
  if (!first) return '';
  const [one, many] = MEDIA_LABELS[first.kind] ?? ['📎 File', 'files'];
  const n = message.media.length;
  if (n > 1) return message.media.every((m) => m.kind === first.kind) ? `${one.split(' ')[0]} ${n} ${many}` : `📎 ${n} files`;
  return first.kind === 'document' && first.fileName ? truncate(`📄 ${first.fileName}`, PREVIEW_CODE_POINTS) : one;
}

export function truncate(text: string, codePoints: number): string {
  const chars = Array.from(text);
  return chars.length <= codePoints ? text : `${chars.slice(0, codePoints - 1).join('')}…`;
}
