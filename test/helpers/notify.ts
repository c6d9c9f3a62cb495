import { createDecipheriv, createECDH, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, isIP, type AddressInfo, type Socket } from 'node:net';
import { importJWK, jwtVerify } from 'jose';
import { systemResolver, type Resolver } from '../../src/net/outbound.js';
import { sleep } from './sockets.js';

/** What a push service or webhook receiver does with one request: answer with a status, never answer, or drop the connection. */
export type Behaviour = number | 'hang' | 'reset';

/** A browser's side of a Web Push subscription: its ECDH P-256 key pair and auth secret, and RFC 8291 decryption. */
export function browserKeys() {
  const ecdh = createECDH('prime256v1');
  const publicKey = ecdh.generateKeys();
  const authSecret = randomBytes(16);
  return {
    p256dh: publicKey.toString('base64url'),
    auth: authSecret.toString('base64url'),
    /** RFC 8188 aes128gcm with the RFC 8291 key derivation; one record, as Web Push messages are. */
    decrypt(body: Buffer): string {
      const salt = body.subarray(0, 16);
      const rs = body.readUInt32BE(16);
      const idlen = body[20]!;
      const senderKey = body.subarray(21, 21 + idlen);
      const record = body.subarray(21 + idlen);
      if (idlen !== 65 || record.length > rs) throw new Error('not a single aes128gcm record keyed by a P-256 point');
      const ikm = hkdf(
        ecdh.computeSecret(senderKey),
        authSecret,
        Buffer.concat([Buffer.from('WebPush: info\0'), publicKey, senderKey]),
        32,
      );
      const cek = hkdf(ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16);
      const nonce = hkdf(ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12);
      const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
      decipher.setAuthTag(record.subarray(record.length - 16));
      const plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
      let end = plain.length - 1;
      while (end >= 0 && plain[end] === 0) end--;
      if (plain[end] !== 2) throw new Error('missing the last-record padding delimiter');
      return plain.subarray(0, end).toString('utf8');
    },
  };
}

const hkdf = (ikm: Buffer, salt: Buffer, info: Buffer, length: number) => Buffer.from(hkdfSync('sha256', ikm, salt, info, length));

export interface PushReceipt {
  path: string;
  status: number | 'hang' | 'reset';
  headers: IncomingMessage['headers'];
  /** The decrypted payload, parsed. */
  payload: any;
  /** The VAPID public key (`k=`) of a request whose JWT verified, with aud = this origin and a future exp. */
  vapidKey: string;
}

export interface TestBrowser {
  subscription: { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } };
  path: string;
  /** Answers for the next requests to this endpoint, in order; then 201. */
  script: Behaviour[];
}

/**
 * A stand-in for a browser vendor's push service on 127.0.0.1: decrypts, checks VAPID, answers as scripted.
 * `host`: the name its endpoints are given with (a test resolver answers 127.0.0.1 for it); 127.0.0.1 by default.
 */
export async function startPushService(opts: { host?: string } = {}) {
  const browsers = new Map<string, TestBrowser & { decrypt(b: Buffer): string }>();
  const receipts: PushReceipt[] = [];
  const errors: unknown[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const browser = browsers.get(req.url ?? '');
        if (!browser) return void res.writeHead(404).end();
        const behaviour = browser.script.shift() ?? 201;
        try {
          const vapidKey = await verifyVapid(req.headers.authorization ?? '', origin);
          const payload = JSON.parse(browser.decrypt(Buffer.concat(chunks)));
          receipts.push({ path: browser.path, status: behaviour, headers: req.headers, payload, vapidKey });
        } catch (err) {
          errors.push(err);
          return void res.writeHead(400).end();
        }
        if (behaviour === 'hang') return;
        if (behaviour === 'reset') return void req.socket.destroy();
        res.writeHead(behaviour).end();
      })();
    });
  });
  const origin = await listen(server, opts.host);
  return {
    origin,
    receipts,
    /** Requests that did not decrypt or whose VAPID header did not verify. */
    errors,
    browser(script: Behaviour[] = []): TestBrowser {
      const path = `/push/${randomBytes(8).toString('hex')}`;
      const keys = browserKeys();
      const b = {
        subscription: { endpoint: origin + path, expirationTime: null, keys: { p256dh: keys.p256dh, auth: keys.auth } },
        path,
        script,
        decrypt: keys.decrypt,
      };
      browsers.set(path, b);
      return b;
    },
    to: (b: TestBrowser) => receipts.filter((r) => r.path === b.path),
    close: () => closeServer(server),
  };
}
export type PushService = Awaited<ReturnType<typeof startPushService>>;

/** The VAPID header (RFC 8292): `vapid t=<ES256 JWT>, k=<public key>`; returns k once the JWT verifies. */
async function verifyVapid(header: string, audience: string): Promise<string> {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header);
  if (!m) throw new Error(`not a VAPID authorization: ${header}`);
  const k = Buffer.from(m[2]!, 'base64url');
  const key = await importJWK(
    { kty: 'EC', crv: 'P-256', x: k.subarray(1, 33).toString('base64url'), y: k.subarray(33, 65).toString('base64url') },
    'ES256',
  );
  const { payload } = await jwtVerify(m[1]!, key, { audience, algorithms: ['ES256'] });
  if (typeof payload.sub !== 'string' || !/^(mailto:|https:)/.test(payload.sub) || typeof payload.exp !== 'number')
    throw new Error('bad VAPID claims');
  return m[2]!;
}

export interface WebhookReceipt {
  body: any;
  raw: string;
  signature: string;
  /** The signature matched HMAC-SHA256(secret, t + "." + raw body). */
  signed: boolean;
  answered: Behaviour;
}

/** A platform's webhook endpoint: checks the X-Chat-Signature of everything it receives, answers as scripted. */
export async function startWebhookReceiver(secret: string) {
  const receipts: WebhookReceipt[] = [];
  const script: Behaviour[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const signature = String(req.headers['x-chat-signature'] ?? '');
      const answered = script.shift() ?? 200;
      receipts.push({ body: JSON.parse(raw), raw, signature, signed: verifySignature(secret, raw, signature), answered });
      if (answered === 'hang') return;
      if (answered === 'reset') return void req.socket.destroy();
      res.writeHead(answered, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  const origin = await listen(server);
  return {
    url: `${origin}/hooks/chat`,
    receipts,
    script,
    /** Delivered notifications (answered 2xx) for one recipient, optionally in one room. */
    delivered: (userId: string, roomId?: string) =>
      receipts
        .filter(
          (r) =>
            typeof r.answered === 'number' && r.answered < 300 && r.body.userId === userId && (!roomId || r.body.chatRoomId === roomId),
        )
        .map((r) => r.body),
    close: () => closeServer(server),
  };
}
export type WebhookReceiver = Awaited<ReturnType<typeof startWebhookReceiver>>;

export function verifySignature(secret: string, raw: string, header: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${raw}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}

/** Polls `check` until it gives a value (not undefined/false), or fails after `ms`. */
export async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, ms = 8000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function listen(server: Server, host = '127.0.0.1'): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://${host}:${(server.address() as AddressInfo).port}`;
}

/**
 * DNS without a network: each name answers with its addresses (changeable while the test runs, as a rebinding
 * server's would); `localhost` asks the real resolver; any other name does not resolve. `asked` records every query.
 */
export function testResolver(answers: Record<string, string[]>) {
  const table = new Map(Object.entries(answers));
  const asked: string[] = [];
  const resolve: Resolver = async (hostname) => {
    asked.push(hostname);
    if (hostname === 'localhost') return systemResolver(hostname);
    const addresses = table.get(hostname);
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: isIP(address) }));
  };
  return { resolve, answers: table, asked };
}

/** A listener on 127.0.0.1 that only counts the connections it gets (and what they sent first): a host that must not be reached. */
export async function startConnectionCounter() {
  const first: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.once('data', (chunk: Buffer) => {
      first.push(chunk);
      socket.destroy();
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    /** The first bytes of each connection (a TLS ClientHello carries the SNI name in clear). */
    first,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
