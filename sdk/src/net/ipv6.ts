/**
 * IPv6 addresses as unsigned 128-bit bigints. The one IPv6 parser and formatter of the tree:
 * parsing is strict (RFC 4291 text forms only, no zone ids, no brackets, no leading zeros beyond
 * four hex digits a group), formatting is RFC 5952 canonical (lower case, longest run of two or
 * more zero groups compressed, the first of equal runs; IPv4-mapped addresses with a dotted tail).
 */
import { formatIPv4, parseIPv4 } from './ipv4';

export interface Cidr6 {
  /** Address as written (may have host bits set). */
  address: bigint;
  prefix: number;
}

export const IPV6_BITS = 128;
const ALL = (1n << 128n) - 1n;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Why `text` is not an IPv6 address, in words; undefined when it is one. */
export function ipv6Problem(text: string): string | undefined {
  return parse(text).problem;
}

export function parseIPv6(text: string): bigint | undefined {
  return parse(text).value;
}

function parse(text: string): { value?: bigint; problem?: string } {
  if (typeof text !== 'string' || text.length === 0) return { problem: 'it is empty' };
  if (text.length > 45) return { problem: 'it is longer than any IPv6 address (45 characters)' };
  if (text.includes('%')) return { problem: 'zone ids ("%eth0") are not accepted; give the address alone' };
  if (text.startsWith('[') || text.endsWith(']')) return { problem: 'brackets are not part of an address; drop them' };
  if (!text.includes(':')) return { problem: 'an IPv6 address has colons ("fd00:30::a")' };
  if (/:::/.test(text)) return { problem: '":::" is not valid; "::" may stand for one run of zero groups' };
  const doubles = text.split('::').length - 1;
  if (doubles > 1) return { problem: '"::" may appear only once' };

  let head: string[];
  let tail: string[];
  if (doubles === 1) {
    const [h, t] = text.split('::') as [string, string];
    head = h === '' ? [] : h.split(':');
    tail = t === '' ? [] : t.split(':');
  } else {
    head = text.split(':');
    tail = [];
  }
  // An embedded IPv4 address may only be the last part, and counts as two groups.
  let v4: number | undefined;
  const last = text.slice(text.lastIndexOf(':') + 1);
  if (last.includes('.')) {
    v4 = parseIPv4(last);
    if (v4 === undefined) return { problem: `"${last}" is not a dotted IPv4 tail` };
    if (doubles === 1) tail = tail.slice(0, -1);
    else head = head.slice(0, -1);
  }
  for (const g of [...head, ...tail]) {
    if (g === '') return { problem: 'it has an empty group (a stray ":")' };
    if (g.includes('.')) return { problem: 'a dotted IPv4 part may only come last' };
    if (g.length > 4 && /^[0-9a-fA-F]+$/.test(g)) return { problem: `group "${g}" has more than four hex digits` };
    if (!HEX_GROUP.test(g)) return { problem: `group "${g}" is not hexadecimal` };
  }
  const groupsNeeded = v4 === undefined ? 8 : 6;
  const have = head.length + tail.length;
  if (doubles === 0 && have !== groupsNeeded) {
    return { problem: `it has ${have} groups; an address has ${groupsNeeded}${v4 === undefined ? '' : ' before a dotted IPv4 tail'} (or "::" for a run of zeros)` };
  }
  if (doubles === 1 && have > groupsNeeded - 1) return { problem: `"::" must stand for at least one group, and there are already ${have}` };
  const zeros = groupsNeeded - have;
  const groups = [...head, ...Array<string>(zeros).fill('0'), ...tail];
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(parseInt(g, 16));
  if (v4 !== undefined) n = (n << 32n) | BigInt(v4);
  return { value: n };
}

/** RFC 5952 canonical text. */
export function formatIPv6(n: bigint): string {
  if (n < 0n || n > ALL) throw new RangeError(`not a 128-bit value: ${n}`);
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  if (isIPv4Mapped(n)) return `::ffff:${formatIPv4(Number(n & 0xffffffffn))}`;
  // Longest run of at least two zero groups; the first one wins a tie (RFC 5952 4.2.3).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number): string => g.toString(16);
  if (bestStart < 0) return groups.map(hex).join(':');
  const left = groups.slice(0, bestStart).map(hex).join(':');
  const right = groups.slice(bestStart + bestLen).map(hex).join(':');
  return `${left}::${right}`;
}

/** The canonical form of an address given as text, or undefined when it is not one. */
export function canonicalIPv6(text: string): string | undefined {
  const n = parseIPv6(text);
  return n === undefined ? undefined : formatIPv6(n);
}

/** Cheap test for "this looks like IPv6, not IPv4 or a name": callers that accept both decide by it. */
export function looksLikeIPv6(text: string): boolean {
  return text.includes(':');
}

export function cidr6Problem(text: string): string | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return 'it has no "/prefix" length (e.g. fd00:30::/64)';
  const len = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(len) || Number(len) > 128) return `"/${len}" is not a prefix length 0-128`;
  const p = ipv6Problem(text.slice(0, slash));
  return p === undefined ? undefined : `"${text.slice(0, slash)}" is not an IPv6 address: ${p}`;
}

export function parseCidr6(text: string): Cidr6 | undefined {
  if (cidr6Problem(text) !== undefined) return undefined;
  const slash = text.indexOf('/');
  return { address: parseIPv6(text.slice(0, slash)) as bigint, prefix: Number(text.slice(slash + 1)) };
}

export function maskOf6(prefix: number): bigint {
  if (prefix <= 0) return 0n;
  return (ALL << BigInt(128 - prefix)) & ALL;
}

export function networkAddress6(c: Cidr6): bigint {
  return c.address & maskOf6(c.prefix);
}

/** The highest address of the prefix (IPv6 has no broadcast; this is just the end of the range). */
export function lastAddress6(c: Cidr6): bigint {
  return networkAddress6(c) | (~maskOf6(c.prefix) & ALL);
}

export function formatCidr6(address: bigint, prefix: number): string {
  return `${formatIPv6(address)}/${prefix}`;
}

/** Canonical text of a prefix with its host bits cleared. */
export function canonicalCidr6(c: Cidr6): string {
  return formatCidr6(networkAddress6(c), c.prefix);
}

export function contains6(c: Cidr6, ip: bigint): boolean {
  return (ip & maskOf6(c.prefix)) === networkAddress6(c);
}

export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  const m = maskOf6(Math.min(a.prefix, b.prefix));
  return (a.address & m) === (b.address & m);
}

/** Number of addresses in the prefix. */
export function size6(c: Cidr6): bigint {
  return 1n << BigInt(128 - c.prefix);
}

/** The n-th address of the prefix (0 is the subnet-router anycast address); throws outside it. */
export function nthAddress6(c: Cidr6, n: bigint | number): bigint {
  const i = BigInt(n);
  if (i < 0n || i >= size6(c)) throw new RangeError(`address #${i} is outside ${canonicalCidr6(c)}`);
  return networkAddress6(c) + i;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Modified EUI-64 interface identifier of a 48-bit MAC (RFC 4291 appendix A): U/L bit flipped, ff:fe in the middle. */
export function interfaceIdOfMac(mac: string): bigint {
  if (!MAC.test(mac)) throw new RangeError(`"${mac}" is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const bytes = [(b[0] as number) ^ 0x02, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]] as number[];
  let n = 0n;
  for (const x of bytes) n = (n << 8n) | BigInt(x);
  return n;
}

/** The SLAAC address a host with this MAC forms in a /64 (EUI-64); other prefix lengths have no SLAAC. */
export function eui64Address(c: Cidr6, mac: string): bigint {
  if (c.prefix !== 64) throw new RangeError(`SLAAC (EUI-64) needs a /64, not /${c.prefix}`);
  return networkAddress6(c) | interfaceIdOfMac(mac);
}

/** fe80::/64 link-local address of a MAC (what the kernel's addrgenmode eui64 makes). */
export function linkLocalOfMac(mac: string): bigint {
  return (0xfe80n << 112n) | interfaceIdOfMac(mac);
}

const inPrefix = (n: bigint, base: bigint, prefix: number): boolean => (n & maskOf6(prefix)) === base;

/** fc00::/7, unique local addresses. */
export function isUla6(n: bigint): boolean {
  return inPrefix(n, 0xfcn << 120n, 7);
}

/** 2000::/3, global unicast. */
export function isGlobalUnicast6(n: bigint): boolean {
  return inPrefix(n, 0x2n << 124n, 3);
}

/** fe80::/10. */
export function isLinkLocal6(n: bigint): boolean {
  return inPrefix(n, 0xfe8n << 116n, 10);
}

/** ff00::/8. */
export function isMulticast6(n: bigint): boolean {
  return inPrefix(n, 0xffn << 120n, 8);
}

/** ::ffff:0:0/96. */
export function isIPv4Mapped(n: bigint): boolean {
  return n >> 32n === 0xffffn;
}

/** Longest prefix volt accepts for a network (room for a gateway and a few hundred workloads). */
export const MAX_NETWORK_PREFIX6 = 120;
/** Shortest prefix volt accepts for one bridge. */
export const MIN_NETWORK_PREFIX6 = 48;

/**
 * Why `text` cannot be a network's IPv6 prefix, in words; undefined when it can: a prefix in
 * CIDR form without host bits, /48 to /120 (a /64 is what SLAAC needs), unique local
 * (fc00::/7) or global unicast (2000::/3).
 */
export function subnet6Problem(text: string): string | undefined {
  const p = cidr6Problem(text);
  if (p !== undefined) return `"${text}" is not an IPv6 prefix: ${p}`;
  const c = parseCidr6(text)!;
  const canonical = canonicalCidr6(c);
  if (networkAddress6(c) !== c.address) return `${text} has host bits set (did you mean ${canonical}?)`;
  if (c.prefix > MAX_NETWORK_PREFIX6) return `/${c.prefix} leaves no room for workloads (longest prefix is /${MAX_NETWORK_PREFIX6}; /64 is recommended)`;
  if (c.prefix < MIN_NETWORK_PREFIX6) return `/${c.prefix} is too large for one bridge (shortest prefix is /${MIN_NETWORK_PREFIX6}; /64 is recommended)`;
  const first = networkAddress6(c);
  if (!isUla6(first) && !isGlobalUnicast6(first)) {
    return `${canonical} is neither a unique local (fc00::/7, e.g. fd00:30::/64) nor a global unicast (2000::/3) prefix`;
  }
  return undefined;
}
