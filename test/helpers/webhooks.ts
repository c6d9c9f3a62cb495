import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature, type Behaviour } from './notify.js';

export interface WebhookRequest {
  raw: string;
  body: { id: string; type: string; createdAt: string; data: any };
  headers: IncomingHttpHeaders;
  /** X-Chat-Signature verified against the receiver's secret. */
  signed: boolean;
  answered: Behaviour;
}

/**
 * An outgoing-webhook receiver on 127.0.0.1: records every request and answers as `behave` says (a status, or
 * 'hang' / 'reset'); 200 unless told otherwise. `secret` may be set once the webhook is created (a generated one).
 */
export async function startReceiver(opts: { secret?: string; behave?: (req: WebhookRequest, n: number) => Behaviour } = {}) {
  const requests: WebhookRequest[] = [];
  const state = { secret: opts.secret ?? '', behave: opts.behave, onRequest: undefined as ((r: WebhookRequest) => void) | undefined };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const r: WebhookRequest = {
        raw,
        body: JSON.parse(raw),
        headers: req.headers,
        signed: verifySignature(state.secret, raw, String(req.headers['x-chat-signature'] ?? '')),
        answered: 200,
      };
      r.answered = state.behave?.(r, requests.length) ?? 200;
      requests.push(r);
      state.onRequest?.(r);
      if (r.answered === 'hang') return;
      if (r.answered === 'reset') return void req.socket.destroy();
      res.writeHead(r.answered, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  const acked = () => requests.filter((r) => typeof r.answered === 'number' && r.answered >= 200 && r.answered < 300);
  return {
    url,
    requests,
    state,
    /** Requests answered 2xx: the receiver's view of what was delivered. */
    acked,
    /** Each event once, in the order its first 2xx arrived (a receiver de-duplicating by id). */
    events: () => {
      const seen = new Map<string, WebhookRequest['body']>();
      for (const r of acked()) if (!seen.has(r.body.id)) seen.set(r.body.id, r.body);
      return [...seen.values()];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** The log id behind an event id (`evt_<n>`): a room's events are delivered in increasing order of it. */
export const logIdOf = (id: string): number => Number(id.slice(4));
