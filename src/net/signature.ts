import { createHmac } from 'node:crypto';

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + raw body)>`: how every POST the service makes to an
 * operator's receiver is signed (offline notifications, outgoing webhooks), so receivers verify both alike. The
 * timestamp is the attempt's, which lets receivers refuse replays.
 */
export function webhookSignature(secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}
