import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { classifyAddress } from './addresses.js';

/**
 * Requests to URLs that users (or admins) choose: a push endpoint, a webhook. Such a URL must not reach into the
 * operator's network (blind SSRF): it is checked after DNS resolution, and the request then connects to the very
 * address that was checked, so a DNS answer that changes in between (rebinding) cannot redirect it.
 */

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every address a host name has. The system resolver in production; tests answer without a network. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true });

/** How long a sender reuses a host's addresses: the JVM's default for its own DNS cache, for the same reasons. */
const ANSWER_TTL_MS = 30_000;
const ANSWERS_KEPT = 1024;

/**
 * A resolver that keeps each host's answer for `ttlMs`, and asks once for all the lookups of a host under way: the
 * senders check a destination at every attempt, and without it a webhook at 1,000 events/s made 1,000 lookups a
 * second, each holding one of libuv's four threads (shared with the file system and crypto) for as long as the
 * system's resolver took. A failed lookup is not kept (the next attempt asks again). Rebinding stays closed: every
 * request still connects to the very address that was checked.
 */
export function cachingResolver(resolve: Resolver, opts: { ttlMs?: number; now?: () => number } = {}): Resolver {
  const ttlMs = opts.ttlMs ?? ANSWER_TTL_MS;
  const now = opts.now ?? Date.now;
  // An answer counts from when it came; a lookup under way is shared however long it takes.
  type Answer = { answeredAt?: number; addresses: Promise<ResolvedAddress[]> };
  const answers = new Map<string, Answer>();
  return (hostname) => {
    const kept = answers.get(hostname);
    if (kept && (kept.answeredAt === undefined || now() - kept.answeredAt < ttlMs)) return kept.addresses;
    answers.delete(hostname);
    if (answers.size >= ANSWERS_KEPT) answers.delete(answers.keys().next().value as string);
    const entry: Answer = { addresses: resolve(hostname) };
    answers.set(hostname, entry);
    entry.addresses.then(
      () => (entry.answeredAt = now()),
      () => answers.get(hostname) === entry && answers.delete(hostname),
    );
    return entry.addresses;
  };
}

export interface DestinationPolicy {
  /** Loopback, private and link-local addresses may be reached (a service inside the operator's network). */
  allowPrivate: boolean;
  /** Plain http is allowed; otherwise https only. */
  allowHttp: boolean;
  resolve?: Resolver;
  /** A resolver that does not answer within this is treated as a failed resolution. */
  resolveTimeoutMs?: number;
}

/**
 * invalid: the URL itself is not acceptable. unresolvable: its host has no address now (may be temporary).
 * not-public: its host is, or resolves to, an address the policy does not allow.
 */
export type Refusal = 'invalid' | 'unresolvable' | 'not-public';

/** Its message completes "the URL …" ("must be an https URL"): fit for a validation error on the field. */
export class DestinationRefused extends Error {
  override readonly name = 'DestinationRefused';
  constructor(
    readonly refusal: Refusal,
    message: string,
    /** For logs: which range the refused address is in ("loopback", "IPv4-mapped link-local"). */
    readonly range?: string,
  ) {
    super(message);
  }
}

export interface Destination {
  url: URL;
  /** The checked address: the only one the request may connect to. */
  address: string;
  /** scheme://host:port, for logs: a push endpoint's path is a capability and stays out of them. */
  origin: string;
}

const RESOLVE_TIMEOUT_MS = 5000;
// Control characters are stripped or refused differently by different URL parsers; a space has no place in a URL.
const UNSAFE_CHARS = /[\u0000-\u0020\u007f]/;

/** Parses, resolves and classifies the URL; throws DestinationRefused unless every address it names is allowed. */
export async function checkDestination(raw: string, policy: DestinationPolicy): Promise<Destination> {
  const url = parseUrl(raw, policy);
  const host = bareHost(url);
  const family = isIP(host);
  const addresses = family ? [{ address: host, family }] : await resolveHost(host, policy);
  // All of them, not the first: a client may pick any, and a rebinding server answers with a mix.
  for (const { address } of addresses) {
    const { kind, range } = classifyAddress(address);
    if (kind === 'public' || (kind === 'private' && policy.allowPrivate)) continue;
    const what = policy.allowPrivate
      ? 'must not point at a reserved address'
      : 'must point at a public address, not a loopback, private or link-local one';
    throw new DestinationRefused('not-public', what, range);
  }
  return { url, address: addresses[0]!.address, origin: url.origin };
}

function parseUrl(raw: string, policy: DestinationPolicy): URL {
  if (UNSAFE_CHARS.test(raw)) throw new DestinationRefused('invalid', 'must not contain spaces or control characters');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DestinationRefused('invalid', 'must be an absolute URL');
  }
  const allowed = url.protocol === 'https:' || (url.protocol === 'http:' && policy.allowHttp);
  if (!allowed) throw new DestinationRefused('invalid', policy.allowHttp ? 'must be an https or http URL' : 'must be an https URL');
  if (url.username || url.password) throw new DestinationRefused('invalid', 'must not carry credentials');
  return url;
}

/** The URL's host as an address or a name: IPv6 literals without their brackets. */
const bareHost = (url: URL): string => (url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname);

async function resolveHost(host: string, policy: DestinationPolicy): Promise<ResolvedAddress[]> {
  const unresolvable = () => new DestinationRefused('unresolvable', `must name a host that resolves (${host} does not)`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(unresolvable()), policy.resolveTimeoutMs ?? RESOLVE_TIMEOUT_MS);
    timer.unref();
  });
  try {
    const addresses = await Promise.race([(policy.resolve ?? systemResolver)(host), timeout]);
    if (addresses.length === 0) throw unresolvable();
    return addresses;
  } catch (err) {
    if (err instanceof DestinationRefused) throw err;
    throw unresolvable();
  } finally {
    clearTimeout(timer);
  }
}

export interface OutboundRequest {
  headers: Record<string, string>;
  body: Buffer | string;
  /** Aborts the request (a shutdown): it fails with the signal's reason. */
  stop: AbortSignal;
  /** The request fails with a `TimeoutError` when it has not ended (answer read out) within this. */
  timeoutMs: number;
}

export interface OutboundResponse {
  status: number;
  header(name: string): string | undefined;
}

// Own pools: a connection is keyed by the checked address (see postTo), and no other code's sockets mix in.
const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

/**
 * POSTs to a checked destination, connecting to its checked address and to nothing else: no DNS lookup happens here,
 * and redirects are not followed. The answer's body is discarded.
 */
export function postTo(dest: Destination, req: OutboundRequest): Promise<OutboundResponse> {
  const { url, address } = dest;
  const tls = url.protocol === 'https:';
  const body = typeof req.body === 'string' ? Buffer.from(req.body) : req.body;
  const options: https.RequestOptions = {
    method: 'POST',
    hostname: address,
    port: url.port || (tls ? 443 : 80),
    path: `${url.pathname}${url.search}`,
    headers: { ...req.headers, host: url.host, 'content-length': String(body.length) },
    agent: tls ? agents.https : agents.http,
    // The certificate is checked against the URL's host name, which SNI names too (an IP literal is checked as is).
    ...(tls && !isIP(bareHost(url)) ? { servername: url.hostname } : {}),
  };
  return new Promise((resolve, reject) => {
    const stopped = () => (req.stop.reason instanceof Error ? req.stop.reason : new Error('stopped'));
    if (req.stop.aborted) return reject(stopped());
    const request = (tls ? https : http).request(options, (res) => {
      // The body is not needed; reading it out frees the connection for reuse. A failure mid-body changes nothing.
      res.on('error', () => {});
      res.resume();
      resolve({
        status: res.statusCode ?? 0,
        header: (name) => {
          const value = res.headers[name.toLowerCase()];
          return Array.isArray(value) ? value[0] : value;
        },
      });
    });
    request.on('error', reject);
    // One timer and one listener, not AbortSignal.any([stop, AbortSignal.timeout(ms)]): composing signals per request
    // was about 4 % of the service's CPU while it delivered 1,000 webhooks a second.
    const timer = setTimeout(() => request.destroy(timeoutError(req.timeoutMs)), req.timeoutMs);
    const onStop = () => request.destroy(stopped());
    req.stop.addEventListener('abort', onStop, { once: true });
    request.once('close', () => {
      clearTimeout(timer);
      req.stop.removeEventListener('abort', onStop);
    });
    request.end(body);
  });
}

function timeoutError(ms: number): Error {
  const err = new Error(`no answer within ${ms} ms`);
  err.name = 'TimeoutError';
  return err;
}
