import { Packet } from 'dns2';
import type { DnsView } from '@volt/sdk';
import { optFor } from './responses';
import { FLAG, RCODE, TYPE, CLASS_IN, answerFlags, buildResponse, keyLabels, keyWithin, nameKey, type Query } from './wire';

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

/** One record through dns2's encoder. */
export function encodeRecord(name: string, type: number, value: string, ttl: number = LOCAL_TTL): Buffer {
  const base = { name, type, class: CLASS_IN, ttl };
  const r = type === TYPE.A ? new Packet.Resource({ ...base, address: value }) : new Packet.Resource({ ...base, domain: value });
  return Packet.Resource.encode(r);
}

export function ownedDomain(domain: string, serial: number): OwnedDomain {
  const soa = Packet.Resource.encode(
    new Packet.Resource({
      name: domain,
      type: TYPE.SOA,
      class: CLASS_IN,
      ttl: LOCAL_TTL,
      primary: `ns.${domain}`,
      admin: `hostmaster.${domain}`,
      serial,
      refresh: 3600,
      retry: 600,
      expiration: 86400,
      // The negative-caching TTL: an unknown name may be connected a second later.
      minimum: LOCAL_TTL,
    }),
  );
  return { key: nameKey(domain), soa };
}

/** dns2 encodes a record in tens of microseconds; a republish of 1,000 names reuses what did not change. */
export type EncodeCache = Map<string, Buffer>;

const IN_ADDR_ARPA = nameKey('in-addr.arpa');
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
  private readonly names = new Map<string, Encoded & { domain?: OwnedDomain }>();
  private readonly ptrs = new Map<string, Encoded>();
  private readonly net: number;
  private readonly mask: number;

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
    const grouped = new Map<string, { name: string; type: number; bufs: Buffer[] }>();
    for (const r of view.records) {
      const type = r.type === 'A' ? TYPE.A : TYPE.PTR;
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
      if (g.type === TYPE.A) this.names.set(key, { ...enc, domain: this.domains.find((d) => keyWithin(key, d.key) && key !== d.key) });
      else this.ptrs.set(key, enc);
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
      if (q.qtype === TYPE.A || q.qtype === TYPE.ANY) {
        return buildResponse(msg, q, answerFlags(q, FLAG.AA | ra, RCODE.NOERROR), { an: hit.count, ns: 0, ar: 0 }, hit.tail, opt);
      }
      // The name exists, just not with this type (AAAA, MX…): NODATA, never NXDOMAIN.
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
