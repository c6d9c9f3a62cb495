import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { classifyAddress, type AddressKind } from '../src/net/addresses.js';
import {
  cachingResolver,
  checkDestination,
  DestinationRefused,
  postTo,
  type DestinationPolicy,
  type Refusal,
  type Resolver,
} from '../src/net/outbound.js';
import { startConnectionCounter, testResolver } from './helpers/notify.js';

const PUBLIC = '93.184.216.34';
const strict: DestinationPolicy = { allowPrivate: false, allowHttp: false };
/** http allowed, so that a refusal below can only be the address's doing. */
const strictAddresses: DestinationPolicy = { allowPrivate: false, allowHttp: true };
const permissive: DestinationPolicy = { allowPrivate: true, allowHttp: true };

async function refusal(url: string, policy: DestinationPolicy): Promise<Refusal | 'accepted'> {
  try {
    await checkDestination(url, policy);
    return 'accepted';
  } catch (err) {
    if (err instanceof DestinationRefused) return err.refusal;
    throw err;
  }
}

describe('classifyAddress', () => {
  const cases: Array<[string, AddressKind]> = [
    // IPv4: every special range, at its edges where an off-by-one would show.
    ['0.0.0.0', 'reserved'],
    ['0.255.255.255', 'reserved'],
    ['10.0.0.0', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'private'],
    ['100.127.255.255', 'private'],
    ['100.63.255.255', 'public'],
    ['100.128.0.0', 'public'],
    ['127.0.0.1', 'private'],
    ['127.255.255.254', 'private'],
    ['169.254.169.254', 'private'],
    ['169.254.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.15.255.255', 'public'],
    ['172.32.0.0', 'public'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['192.88.99.1', 'reserved'],
    ['192.168.0.1', 'private'],
    ['192.168.255.255', 'private'],
    ['198.18.0.1', 'private'],
    ['198.19.255.255', 'private'],
    ['198.20.0.0', 'public'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['224.0.0.1', 'reserved'],
    ['239.255.255.250', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['8.8.8.8', 'public'],
    [PUBLIC, 'public'],
    ['1.1.1.1', 'public'],
    ['223.255.255.255', 'public'],
    // IPv6
    ['::', 'reserved'],
    ['::1', 'private'],
    ['0:0:0:0:0:0:0:1', 'private'],
    ['::7f00:1', 'reserved'], // IPv4-compatible (deprecated)
    ['fc00::1', 'private'],
    ['fd12:3456:789a::1', 'private'],
    ['fe80::1', 'private'],
    ['fe80::1%eth0', 'private'],
    ['febf:ffff::1', 'private'],
    ['fec0::1', 'private'],
    ['ff02::1', 'reserved'],
    ['ff05::1:3', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['2001::1', 'reserved'], // Teredo
    ['3fff::1', 'reserved'],
    ['100::1', 'reserved'], // discard-only
    ['64:ff9b:1::1', 'reserved'], // local-use NAT64
    ['2606:4700:4700::1111', 'public'],
    ['2a00:1450:4001:81c::200e', 'public'],
    // IPv4 inside IPv6: judged by the IPv4 address.
    ['::ffff:127.0.0.1', 'private'],
    ['::ffff:7f00:1', 'private'],
    ['::FFFF:169.254.169.254', 'private'],
    ['::ffff:a9fe:a9fe', 'private'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:0.0.0.0', 'reserved'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::127.0.0.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'private'],
    ['64:ff9b::808:808', 'public'],
    ['2002:7f00:1::1', 'private'], // 6to4 of 127.0.0.1
    ['2002:a9fe:a9fe::', 'private'],
    ['2002:808:808::1', 'public'],
    // Not addresses at all: fail closed.
    ['localhost', 'reserved'],
    ['', 'reserved'],
    ['127.1', 'reserved'],
    ['2130706433', 'reserved'],
  ];
  it.each(cases)('%s is %s', (address, kind) => {
    expect(classifyAddress(address).kind).toBe(kind);
  });

  it('names the range, for logs', () => {
    expect(classifyAddress('169.254.169.254').range).toBe('link-local');
    expect(classifyAddress('::ffff:127.0.0.1').range).toBe('IPv4-mapped loopback');
  });
});

describe('checkDestination', () => {
  it('refuses loopback, private and link-local hosts however the URL spells them (the URL parser normalises IPv4 forms)', async () => {
    const urls = [
      'http://127.0.0.1/',
      'http://0x7f.0.0.1/',
      'http://0x7f000001/',
      'http://2130706433/',
      'http://017700000001/',
      'http://0177.0.0.1/',
      'http://127.1/',
      'http://127.0.1/',
      'http://169.254.169.254/latest/meta-data/',
      'http://0xa9.0xfe.0xa9.0xfe/',
      'http://2852039166/',
      'http://10.0.0.1/',
      'http://012.0.0.1/',
      'http://192.168.1.1:8080/x',
      'http://172.16.0.1/',
      'http://100.64.0.1/',
      'http://[::1]/',
      'http://[0:0:0:0:0:0:0:1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://[::ffff:7f00:1]/',
      'http://[::ffff:169.254.169.254]/',
      'http://[64:ff9b::a9fe:a9fe]/',
      'http://[fe80::1]/',
      'http://[fd00::1]/',
      'http://[2002:7f00:1::]/',
      'http://0.0.0.0/',
      'http://[::]/',
      'http://0/',
      'http://224.0.0.1/',
      'http://255.255.255.255/',
    ];
    const resolve = testResolver({}).resolve;
    for (const url of urls)
      expect({ url, refusal: await refusal(url, { ...strictAddresses, resolve }) }).toEqual({ url, refusal: 'not-public' });
  });

  it('resolves host names and refuses when any address they give is not public', async () => {
    const dns = testResolver({
      'push.example.com': [PUBLIC, '2606:2800:220:1:248:1893:25c8:1946'],
      'metadata.example.com': ['169.254.169.254'],
      'mixed.example.com': [PUBLIC, '10.0.0.7'],
      'mixed6.example.com': [PUBLIC, '::1'],
      'mapped.example.com': ['::ffff:127.0.0.1'],
      'empty.example.com': [],
    });
    const policy = { ...strict, resolve: dns.resolve };
    expect(await checkDestination('https://push.example.com/send/abc', policy)).toMatchObject({
      address: PUBLIC,
      origin: 'https://push.example.com',
    });
    expect(await refusal('https://metadata.example.com/x', policy)).toBe('not-public');
    expect(await refusal('https://mixed.example.com/x', policy)).toBe('not-public');
    expect(await refusal('https://mixed6.example.com/x', policy)).toBe('not-public');
    expect(await refusal('https://mapped.example.com/x', policy)).toBe('not-public');
    expect(await refusal('https://localhost/x', policy)).toBe('not-public'); // the real resolver: 127.0.0.1 / ::1
    expect(await refusal('https://LOCALHOST./x', policy)).not.toBe('accepted');
    expect(await refusal('https://nowhere.example.com/x', policy)).toBe('unresolvable');
    expect(await refusal('https://empty.example.com/x', policy)).toBe('unresolvable');
    // An IP literal is judged as it is: no resolver is asked.
    expect(await checkDestination(`https://${PUBLIC}/x`, policy)).toMatchObject({ address: PUBLIC });
    expect(await checkDestination('https://[2606:4700:4700::1111]/x', policy)).toMatchObject({ address: '2606:4700:4700::1111' });
    expect(dns.asked).not.toContain(PUBLIC);
  });

  it('gives up on a resolver that does not answer', async () => {
    const started = Date.now();
    const policy = { ...strict, resolve: () => new Promise<never>(() => {}), resolveTimeoutMs: 100 };
    expect(await refusal('https://slow.example.com/x', policy)).toBe('unresolvable');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses other schemes, plain http unless allowed, credentials, spaces and control characters', async () => {
    const resolve = testResolver({ 'push.example.com': [PUBLIC] }).resolve;
    const policy = { ...strict, resolve };
    const invalid = [
      'http://push.example.com/x',
      'ftp://push.example.com/x',
      'file:///etc/passwd',
      'gopher://push.example.com/x',
      'data:text/plain,hi',
      'javascript:alert(1)',
      'push.example.com/x',
      '//push.example.com/x',
      'https://user:pw@push.example.com/x',
      'https://user@push.example.com/x',
      'https://push.example.com/a\u0000b',
      'https://push.example.com/a\nb',
      'https://push.example.com/a\tb',
      'https://push.example.com/a\rb',
      'https://push.example.com/a\u007fb',
      'https://push.example.com/a b',
      ' https://push.example.com/x',
      'https://push.exa\nmple.com/x',
    ];
    for (const url of invalid) expect({ url, refusal: await refusal(url, policy) }).toEqual({ url, refusal: 'invalid' });
    expect(await refusal('http://push.example.com/x', { ...policy, allowHttp: true })).toBe('accepted');
    expect(await refusal('https://push.example.com/x', policy)).toBe('accepted');
  });

  it('with private destinations allowed: loopback, private and link-local pass; unspecified, multicast and broadcast still do not', async () => {
    const resolve = testResolver({}).resolve;
    for (const url of [
      'http://127.0.0.1:8123/p',
      'http://[::1]:8123/p',
      'http://10.1.2.3/p',
      'https://169.254.10.10/p',
      'http://[fd00::5]/p',
      'http://localhost:8123/p',
    ]) {
      expect({ url, refusal: await refusal(url, { ...permissive, resolve }) }).toEqual({ url, refusal: 'accepted' });
    }
    for (const url of [
      'http://0.0.0.0/p',
      'http://[::]/p',
      'http://224.0.0.251/p',
      'http://255.255.255.255/p',
      'http://[ff02::1]/p',
      'http://192.0.2.1/p',
    ]) {
      expect({ url, refusal: await refusal(url, { ...permissive, resolve }) }).toEqual({ url, refusal: 'not-public' });
    }
  });

  it('says what is wrong without naming the address a host resolved to', async () => {
    const resolve = testResolver({ 'intranet.example.com': ['10.20.30.40'] }).resolve;
    const err = await checkDestination('https://intranet.example.com/x', { ...strict, resolve }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DestinationRefused);
    expect((err as Error).message).toBe('must point at a public address, not a loopback, private or link-local one');
    expect((err as DestinationRefused).range).toBe('private');
  });
});

describe('postTo', () => {
  it('connects to the checked address, not to what the host name resolves to when the request is made', async () => {
    const seen: Array<{ host?: string; url?: string; body: string }> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ host: req.headers.host, url: req.url, body });
        res.writeHead(201, { 'retry-after': '7' }).end('ignored');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      // A name no real resolver knows: only the pinned address can have taken the request there.
      const dns = testResolver({ 'pinned.example.com': ['127.0.0.1'] });
      const dest = await checkDestination(`http://pinned.example.com:${port}/push/abc?x=1`, { ...permissive, resolve: dns.resolve });
      dns.answers.set('pinned.example.com', ['10.9.9.9']);
      const res = await postTo(dest, {
        headers: { 'content-type': 'text/plain' },
        body: 'hello',
        stop: new AbortController().signal,
        timeoutMs: 5000,
      });
      expect(res.status).toBe(201);
      expect(res.header('Retry-After')).toBe('7');
      expect(seen).toEqual([{ host: `pinned.example.com:${port}`, url: '/push/abc?x=1', body: 'hello' }]);
      expect(dns.asked).toEqual(['pinned.example.com']);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('over https, connects to the checked address and names the URL host in SNI (certificates are checked against it)', async () => {
    const counter = await startConnectionCounter();
    try {
      const dns = testResolver({ 'tls-pinned.example.com': ['127.0.0.1'] });
      const dest = await checkDestination(`https://tls-pinned.example.com:${counter.port}/x`, { ...permissive, resolve: dns.resolve });
      // The counter answers no TLS: the request fails, after its ClientHello has arrived.
      await expect(postTo(dest, { headers: {}, body: '', stop: new AbortController().signal, timeoutMs: 1000 })).rejects.toThrow();
      expect(counter.connections()).toBe(1);
      expect(counter.first[0]?.[0]).toBe(0x16); // a TLS handshake record
      expect(counter.first[0]?.includes('tls-pinned.example.com')).toBe(true);
    } finally {
      await counter.close();
    }
  });

  it('fails with a TimeoutError when no answer comes in time, and with the stop signal’s reason when stopped', async () => {
    const silent = createServer(() => {}); // takes the request, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const dest = await checkDestination(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/x`, permissive);
      const began = performance.now();
      await expect(postTo(dest, { headers: {}, body: 'x', stop: new AbortController().signal, timeoutMs: 100 })).rejects.toMatchObject({
        name: 'TimeoutError',
        message: 'no answer within 100 ms',
      });
      expect(performance.now() - began).toBeGreaterThanOrEqual(95);
      const stop = new AbortController();
      const stopped = postTo(dest, { headers: {}, body: 'x', stop: stop.signal, timeoutMs: 60_000 });
      setTimeout(() => stop.abort(new Error('shutting down')), 50);
      await expect(stopped).rejects.toThrow('shutting down');
      // Already stopped: no request at all.
      await expect(postTo(dest, { headers: {}, body: 'x', stop: stop.signal, timeoutMs: 60_000 })).rejects.toThrow('shutting down');
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('cachingResolver', () => {
  /** A resolver whose answers the test releases, counting the lookups it was asked for. */
  function slowResolver() {
    const asked: string[] = [];
    const pending: Array<{ host: string; settle: (ok: boolean) => void }> = [];
    const resolve: Resolver = (host) =>
      new Promise((ok, fail) => {
        asked.push(host);
        pending.push({ host, settle: (yes) => (yes ? ok([{ address: PUBLIC, family: 4 }]) : fail(new Error('ENOTFOUND'))) });
      });
    return { resolve, asked, release: (yes = true) => pending.splice(0).forEach((p) => p.settle(yes)) };
  }

  it('asks once for the lookups of a host under way, and keeps the answer for its time', async () => {
    let clock = 0;
    const dns = slowResolver();
    const cached = cachingResolver(dns.resolve, { ttlMs: 1000, now: () => clock });
    const burst = Promise.all(Array.from({ length: 50 }, () => cached('a.example.com')));
    void cached('b.example.com');
    dns.release();
    expect((await burst).every((a) => a[0]!.address === PUBLIC)).toBe(true);
    expect(dns.asked).toEqual(['a.example.com', 'b.example.com']);
    clock = 999;
    await cached('a.example.com');
    expect(dns.asked).toHaveLength(2);
    clock = 1000;
    const again = cached('a.example.com');
    dns.release();
    await again;
    expect(dns.asked).toEqual(['a.example.com', 'b.example.com', 'a.example.com']);
  });

  it('keeps no failure: the next lookup asks again', async () => {
    const dns = slowResolver();
    const cached = cachingResolver(dns.resolve, { now: () => 0 });
    const failed = cached('down.example.com');
    dns.release(false);
    await expect(failed).rejects.toThrow('ENOTFOUND');
    const next = cached('down.example.com');
    dns.release();
    await expect(next).resolves.toEqual([{ address: PUBLIC, family: 4 }]);
    expect(dns.asked).toEqual(['down.example.com', 'down.example.com']);
  });

  it('still refuses a kept answer that the policy does not allow, at every check', async () => {
    const dns = testResolver({ 'inside.example.com': ['10.0.0.7'] });
    const policy: DestinationPolicy = { ...strict, resolve: cachingResolver(dns.resolve) };
    for (let i = 0; i < 3; i++) await expect(checkDestination('https://inside.example.com/x', policy)).rejects.toThrow(DestinationRefused);
    expect(dns.asked).toEqual(['inside.example.com']);
  });
});
