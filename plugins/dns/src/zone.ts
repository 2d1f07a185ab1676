import { encodeAddressOrPtr, encodeSoa } from './encode';
import { BlockList } from 'node:net';
import type { DnsView } from '@volt/sdk';
import { optFor } from './responses';
import { FLAG, RCODE, TYPE, answerFlags, buildResponse, keyLabels, keyWithin, nameKey, type Query } from './wire';

/**
 * TTL of volt's own answers. Zero, as dnsmasq does for local names: a connect
 * or disconnect must be visible at once, and a stub cache in a workload would
 * otherwise keep a stale address.
 */
export const LOCAL_TTL = 0;

/** Records encoded with dns2, in wire form, ready to be copied after a question. */
interface Encoded {
  tail: Buffer;
  count: number;
}

/** A search domain volt owns: its key and its SOA (for NXDOMAIN / NODATA, RFC 2308). */
export interface OwnedDomain {
  key: string;
  soa: Buffer;
}

const NO_COUNTS = { an: 0, ns: 0, ar: 0 };
const ONE_AUTHORITY = { an: 0, ns: 1, ar: 0 };
const ONE_ANSWER = { an: 1, ns: 0, ar: 0 };

/** One record in wire form (AAAA values come from core in canonical compressed form); encode.ts, byte for byte dns2's encoding. */
export function encodeRecord(name: string, type: number, value: string, ttl: number = LOCAL_TTL): Buffer {
  return encodeAddressOrPtr(name, type, value, ttl);
}

export function ownedDomain(domain: string, serial: number): OwnedDomain {
  const soa = encodeSoa(domain, LOCAL_TTL, {
    primary: `ns.${domain}`,
    admin: `hostmaster.${domain}`,
    serial,
    refresh: 3600,
    retry: 600,
    expiration: 86400,
    // The negative-caching TTL: an unknown name may be connected a second later.
    minimum: LOCAL_TTL,
  });
  return { key: nameKey(domain), soa };
}

/** A republish of 1,000 names reuses the encodings of what did not change. */
export type EncodeCache = Map<string, Buffer>;

const IN_ADDR_ARPA = nameKey('in-addr.arpa');
const IP6_ARPA = nameKey('ip6.arpa');
/** Nibble labels of a whole IPv6 address below ip6.arpa (RFC 3596 §2.5). */
const NIBBLES = 32;

/** A workload name's records by type: an answer is one of these copied after the question. */
interface NameRecords {
  a?: Encoded;
  aaaa?: Encoded;
  /** A and AAAA together (qtype ANY). */
  any: Encoded;
  domain?: OwnedDomain;
}

/** This network's ip6.arpa zone: its prefix, and the names that exist only as parents of PTRs (empty non-terminals). */
interface Reverse6 {
  prefix: BlockList;
  /** Nibbles that fix the prefix (64 → 16): shorter names are above the zone. */
  zoneNibbles: number;
  parents: Set<string>;
}
/** Types that ask about a single-label name as a zone (a TLD), not as a host: those go upstream. */
const ZONE_TYPES: ReadonlySet<number> = new Set([TYPE.NS, TYPE.SOA, TYPE.DS, TYPE.DNSKEY]);

/**
 * The names one network's clients see, pre-encoded: an answer is a header,
 * the client's own question bytes and a tail copied from here.
 */
export class NetworkZone {
  readonly network: string;
  readonly forward: boolean;
  /** Whole answers by query bytes after the ID (see LocalAnswerer.local); lives and dies with this zone. */
  readonly memo = new Map<string, Buffer>();
  private readonly names = new Map<string, NameRecords>();
  private readonly ptrs = new Map<string, Encoded>();
  private readonly net: number;
  private readonly mask: number;
  private readonly reverse6?: Reverse6;

  constructor(
    view: DnsView,
    private readonly domains: readonly OwnedDomain[],
    previous: EncodeCache,
    next: EncodeCache,
  ) {
    this.network = view.network;
    this.forward = view.forward;
    const [addr, prefix] = view.subnet.split('/');
    this.mask = Number(prefix) === 0 ? 0 : (0xffffffff << (32 - Number(prefix))) >>> 0;
    this.net = (ipv4ToInt(addr ?? '') & this.mask) >>> 0;
    this.reverse6 = view.subnet6 === undefined ? undefined : reverseZone6(view.subnet6);
    const grouped = new Map<string, { name: string; type: number; bufs: Buffer[] }>();
    for (const r of view.records) {
      const type = r.type === 'A' ? TYPE.A : r.type === 'AAAA' ? TYPE.AAAA : TYPE.PTR;
      const cacheKey = `${type}\0${r.name.toLowerCase()}\0${r.value}`;
      let b = next.get(cacheKey) ?? previous.get(cacheKey);
      if (b === undefined) b = encodeRecord(r.name.toLowerCase(), type, r.value);
      next.set(cacheKey, b);
      const key = `${type}\0${nameKey(r.name)}`;
      let g = grouped.get(key);
      if (!g) grouped.set(key, (g = { name: r.name, type, bufs: [] }));
      g.bufs.push(b);
    }
    for (const g of grouped.values()) {
      const key = nameKey(g.name);
      const enc = { tail: Buffer.concat(g.bufs), count: g.bufs.length };
      if (g.type === TYPE.PTR) {
        this.ptrs.set(key, enc);
        if (this.reverse6 !== undefined && keyWithin(key, IP6_ARPA)) addParents(this.reverse6.parents, key);
        continue;
      }
      let n = this.names.get(key);
      if (n === undefined) this.names.set(key, (n = { any: enc, domain: this.domains.find((d) => keyWithin(key, d.key) && key !== d.key) }));
      if (g.type === TYPE.A) n.a = enc;
      else n.aaaa = enc;
      // ANY: the A records, then the AAAA records.
      const both = [n.a, n.aaaa].filter((e): e is Encoded => e !== undefined);
      n.any = both.length === 1 ? both[0]! : { tail: Buffer.concat(both.map((e) => e.tail)), count: both.reduce((c, e) => c + e.count, 0) };
    }
  }

  get size(): number {
    return this.names.size + this.ptrs.size;
  }

  /**
   * The answer if the name is volt's to answer (a workload, a search domain,
   * this network's reverse zone, a bare name); undefined means "not ours":
   * forward it or refuse it.
   */
  answer(msg: Buffer, q: Query): Buffer | undefined {
    const opt = optFor(q);
    const ra = this.forward ? FLAG.RA : 0;
    const hit = this.names.get(q.key);
    if (hit !== undefined) {
      const rr = q.qtype === TYPE.A ? hit.a : q.qtype === TYPE.AAAA ? hit.aaaa : q.qtype === TYPE.ANY ? hit.any : undefined;
      if (rr !== undefined) return buildResponse(msg, q, answerFlags(q, FLAG.AA | ra, RCODE.NOERROR), { an: rr.count, ns: 0, ar: 0 }, rr.tail, opt);
      // The name exists, just not with this type (AAAA of a v4-only workload, A of a v6-only one, MX…): NODATA, never NXDOMAIN.
      return this.negative(msg, q, RCODE.NOERROR, hit.domain, opt, ra);
    }
    const ptr = this.ptrs.get(q.key);
    if (ptr !== undefined) {
      if (q.qtype === TYPE.PTR || q.qtype === TYPE.ANY) {
        return buildResponse(msg, q, answerFlags(q, FLAG.AA | ra, RCODE.NOERROR), { an: ptr.count, ns: 0, ar: 0 }, ptr.tail, opt);
      }
      return this.negative(msg, q, RCODE.NOERROR, undefined, opt, ra);
    }
    return this.miss(msg, q, opt, ra);
  }

  private miss(msg: Buffer, q: Query, opt: Buffer | undefined, ra: number): Buffer | undefined {
    for (const d of this.domains) {
      if (!keyWithin(q.key, d.key)) continue;
      if (q.key === d.key) {
        if (q.qtype === TYPE.SOA || q.qtype === TYPE.ANY) {
          return buildResponse(msg, q, answerFlags(q, FLAG.AA | ra, RCODE.NOERROR), ONE_ANSWER, d.soa, opt);
        }
        return this.negative(msg, q, RCODE.NOERROR, d, opt, ra);
      }
      return this.negative(msg, q, RCODE.NXDOMAIN, d, opt, ra);
    }
    if (keyWithin(q.key, IN_ADDR_ARPA) && this.inOwnReverseZone(q.key)) return this.negative(msg, q, RCODE.NXDOMAIN, undefined, opt, ra);
    if (this.reverse6 !== undefined && keyWithin(q.key, IP6_ARPA)) {
      const rcode = reverse6Rcode(this.reverse6, q.key);
      if (rcode !== undefined) return this.negative(msg, q, rcode, undefined, opt, ra);
    }
    // A bare name that is no workload here: "db-primary" asked on the wrong
    // network must not leak to (or be answered by) the upstream resolvers.
    if (q.key.length > 0 && q.key.charCodeAt(0) + 1 === q.key.length && !ZONE_TYPES.has(q.qtype)) {
      return this.negative(msg, q, RCODE.NXDOMAIN, undefined, opt, ra);
    }
    return undefined;
  }

  private negative(msg: Buffer, q: Query, rcode: number, domain: OwnedDomain | undefined, opt: Buffer | undefined, ra: number): Buffer {
    const flags = answerFlags(q, FLAG.AA | ra, rcode);
    return domain === undefined ? buildResponse(msg, q, flags, NO_COUNTS, undefined, opt) : buildResponse(msg, q, flags, ONE_AUTHORITY, domain.soa, opt);
  }

  /** d.c.b.a.in-addr.arpa with a.b.c.d inside this network's subnet. */
  private inOwnReverseZone(key: string): boolean {
    const labels = keyLabels(key);
    if (labels.length !== 6) return false;
    const ip = ipv4ToInt(`${labels[3]}.${labels[2]}.${labels[1]}.${labels[0]}`);
    return ip >= 0 && ((ip & this.mask) >>> 0) === this.net;
  }
}

/** "fd00:30::/64" → the zone's prefix and nibble count; undefined for what is not an IPv6 prefix. */
export function reverseZone6(subnet6: string): Reverse6 | undefined {
  const [addr, len] = subnet6.split('/');
  const bits = Number(len);
  if (addr === undefined || !Number.isInteger(bits) || bits < 0 || bits > 128) return undefined;
  const prefix = new BlockList();
  try {
    prefix.addSubnet(addr, bits, 'ipv6');
  } catch {
    return undefined;
  }
  return { prefix, zoneNibbles: Math.ceil(bits / 4), parents: new Set() };
}

/** Every name between a PTR's owner and ip6.arpa: they exist (empty non-terminals, RFC 8020). */
function addParents(parents: Set<string>, key: string): void {
  for (let i = 0; i < key.length; ) {
    i += key.charCodeAt(i) + 1;
    const rest = key.slice(i);
    if (rest === IP6_ARPA || rest.length <= IP6_ARPA.length) return;
    parents.add(rest);
  }
}

function isHexNibble(label: string): boolean {
  if (label.length !== 1) return false;
  const c = label.charCodeAt(0);
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
}

/**
 * The negative answer for an ip6.arpa name at or below this network's
 * reverse zone that has no PTR here: NOERROR (NODATA) for the parents of a
 * PTR, NXDOMAIN for everything else there — an address without a workload,
 * and names that cannot be an address at all (a label that is not one hex
 * digit, more than 32 nibbles). Undefined: the name is above or outside the
 * zone, so not volt's to answer (DNS-SD's `lb._dns-sd._udp.…` above it, say).
 * The key is lower case, so "A" is "a".
 */
export function reverse6Rcode(z: Reverse6, key: string): number | undefined {
  const labels = keyLabels(key);
  // labels: the nibbles least significant first, then "ip6", "arpa".
  let i = labels.length - 3;
  let hex = '';
  for (; i >= 0 && hex.length < NIBBLES && isHexNibble(labels[i]!); i--) hex += labels[i]!;
  if (hex.length < z.zoneNibbles || hex.length === 0) return undefined;
  const full = hex.padEnd(NIBBLES, '0');
  let addr = full.slice(0, 4);
  for (let g = 4; g < NIBBLES; g += 4) addr += `:${full.slice(g, g + 4)}`;
  if (!z.prefix.check(addr, 'ipv6')) return undefined;
  if (i >= 0 || hex.length === NIBBLES) return RCODE.NXDOMAIN;
  return z.parents.has(key) ? RCODE.NOERROR : RCODE.NXDOMAIN;
}

/** Dotted quad → unsigned 32-bit, or -1. Called per packet for the client check, so no regex. */
export function ipv4ToInt(s: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || ++dots > 3) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      part = part * 10 + (c - 0x30);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return (n * 256 + part) >>> 0;
}
