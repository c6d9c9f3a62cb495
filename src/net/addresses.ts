import { isIPv4, isIPv6 } from 'node:net';

/**
 * public: reachable on the internet, the only kind a user-given URL may reach by default.
 * private: loopback, RFC 1918, link-local and the like: a service inside the operator's network; allowed only when
 * the operator says so.
 * reserved: never a sensible destination (unspecified, multicast, broadcast, documentation, unallocated).
 */
export type AddressKind = 'public' | 'private' | 'reserved';

export interface AddressClass {
  kind: AddressKind;
  /** What the range is, for logs ("loopback", "link-local", "IPv4-mapped loopback"). */
  range: string;
}

type Rule<N> = [network: N, prefix: number, kind: AddressKind, range: string];

const V4_RULES: Array<Rule<string>> = [
  ['255.255.255.255', 32, 'reserved', 'broadcast'],
  ['0.0.0.0', 8, 'reserved', '"this network"'],
  ['10.0.0.0', 8, 'private', 'private'],
  ['100.64.0.0', 10, 'private', 'shared address space'],
  ['127.0.0.0', 8, 'private', 'loopback'],
  ['169.254.0.0', 16, 'private', 'link-local'],
  ['172.16.0.0', 12, 'private', 'private'],
  ['192.0.0.0', 24, 'reserved', 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'reserved', 'documentation'],
  ['192.88.99.0', 24, 'reserved', '6to4 relay anycast'],
  ['192.168.0.0', 16, 'private', 'private'],
  ['198.18.0.0', 15, 'private', 'benchmarking'],
  ['198.51.100.0', 24, 'reserved', 'documentation'],
  ['203.0.113.0', 24, 'reserved', 'documentation'],
  ['224.0.0.0', 4, 'reserved', 'multicast'],
  ['240.0.0.0', 4, 'reserved', 'reserved'],
];

/**
 * Checked in order; the first match decides. Beyond these, only 2000::/3 (global unicast) is public: anything else is
 * unallocated or special, and a new special range is far likelier to turn up outside it than inside.
 */
const V6_RULES: Array<Rule<string>> = [
  ['::', 128, 'reserved', 'unspecified'],
  ['::1', 128, 'private', 'loopback'],
  ['::', 96, 'reserved', 'IPv4-compatible'],
  ['fc00::', 7, 'private', 'unique local'],
  ['fe80::', 10, 'private', 'link-local'],
  ['fec0::', 10, 'private', 'site-local'],
  ['ff00::', 8, 'reserved', 'multicast'],
  ['2001:db8::', 32, 'reserved', 'documentation'],
  ['3fff::', 20, 'reserved', 'documentation'],
  // Teredo (2001::/32) among them: the IPv4 address inside is obfuscated, and no push service sits behind one.
  ['2001::', 23, 'reserved', 'IETF protocol assignments'],
];

/** Addresses that carry an IPv4 address in their low (or, for 6to4, high) bits: judged by that address. */
const V6_EMBEDDING: Array<[network: string, prefix: number, label: string, at: (v: bigint) => number]> = [
  ['::ffff:0:0', 96, 'IPv4-mapped', (v) => Number(v & 0xffffffffn)],
  ['64:ff9b::', 96, 'NAT64', (v) => Number(v & 0xffffffffn)],
  ['2002::', 16, '6to4', (v) => Number((v >> 80n) & 0xffffffffn)],
];

const v4 = V4_RULES.map(([n, p, k, r]): Rule<number> => [ipv4ToInt(n), p, k, r]);
const v6 = V6_RULES.map(([n, p, k, r]): Rule<bigint> => [ipv6ToBigInt(n), p, k, r]);
const v6Embedding = V6_EMBEDDING.map(([n, p, label, at]) => ({ net: ipv6ToBigInt(n), prefix: p, label, at }));
const GLOBAL_UNICAST = ipv6ToBigInt('2000::');

/** What kind of destination an IP address is. Anything that is not an IP address is `reserved` (fail closed). */
export function classifyAddress(address: string): AddressClass {
  if (isIPv4(address)) return classifyV4(ipv4ToInt(address));
  // A zone (fe80::1%eth0) names an interface; the address is what matters.
  const bare = address.split('%')[0]!;
  if (isIPv6(bare)) return classifyV6(ipv6ToBigInt(bare));
  return { kind: 'reserved', range: 'not an IP address' };
}

function classifyV4(n: number): AddressClass {
  for (const [net, prefix, kind, range] of v4) if (n >>> (32 - prefix) === net >>> (32 - prefix)) return { kind, range };
  return { kind: 'public', range: 'public' };
}

function classifyV6(n: bigint): AddressClass {
  for (const e of v6Embedding) {
    if (inV6(n, e.net, e.prefix)) {
      const inner = classifyV4(e.at(n));
      return { kind: inner.kind, range: `${e.label} ${inner.range}` };
    }
  }
  for (const [net, prefix, kind, range] of v6) if (inV6(n, net, prefix)) return { kind, range };
  return inV6(n, GLOBAL_UNICAST, 3) ? { kind: 'public', range: 'public' } : { kind: 'reserved', range: 'unallocated' };
}

const inV6 = (n: bigint, net: bigint, prefix: number): boolean => n >> BigInt(128 - prefix) === net >> BigInt(128 - prefix);

function ipv4ToInt(address: string): number {
  return address.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

/** For an address that net.isIPv6 accepts (no zone): eight groups, `::` expanded, a dotted IPv4 tail converted. */
function ipv6ToBigInt(address: string): bigint {
  let text = address.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const n = ipv4ToInt(dotted[1]!);
    text = `${text.slice(0, -dotted[1]!.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}
