/**
 * The few wire-format reads the query path needs, by hand and bounded.
 *
 * Records are encoded with dns2 (zone.ts), but dns2's reader and writer work
 * on arrays of single bits: Packet.parse took about 38 µs per query and
 * toBuffer about 96 µs here, which is what held its server to about 7k
 * queries/s. A query is read here in well under a microsecond: the header,
 * the one question (as a lower-cased lookup key) and the OPT record; nothing
 * else is decoded on the way to a pre-encoded answer.
 */

export const TYPE = {
  A: 1,
  NS: 2,
  SOA: 6,
  PTR: 12,
  AAAA: 28,
  OPT: 41,
  DS: 43,
  DNSKEY: 48,
  IXFR: 251,
  AXFR: 252,
  MAILB: 253,
  MAILA: 254,
  ANY: 255,
} as const;

export const CLASS_IN = 1;
export const CLASS_ANY = 255;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended (EDNS) rcode 16: the header carries 0, the OPT record the upper bits. */
  BADVERS: 16,
} as const;

export const FLAG = {
  QR: 0x8000,
  OPCODE: 0x7800,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
  CD: 0x0010,
} as const;

export const HEADER_BYTES = 12;
/** Larger "queries" are not queries; they get FORMERR without a look inside. */
export const MAX_QUERY_BYTES = 4096;
/** What a UDP client without EDNS can take (RFC 1035). */
export const CLASSIC_UDP_BYTES = 512;
/** The EDNS payload size volt-dns advertises (DNS flag day 2020). */
export const EDNS_UDP_BYTES = 1232;

/** rcode of a query that must not be answered at all (too short to echo, or itself a response). */
export const DROP = -1;

export interface Query {
  /** DROP, 0 (answer it) or the rcode of an error answer. */
  rcode: number;
  id: number;
  flags: number;
  /**
   * The question name lower-cased in wire form without the root label
   * ("\x03api\x04volt\x05local"), as a latin1 string: the key of every lookup.
   */
  key: string;
  qtype: number;
  qclass: number;
  /** Offset just past the question; 0 when the question could not be read. */
  questionEnd: number;
  edns: boolean;
  /** The client's EDNS payload size (512 without EDNS). */
  udpSize: number;
  dnssecOk: boolean;
}

const DROPPED: Query = Object.freeze({
  rcode: DROP,
  id: 0,
  flags: 0,
  key: '',
  qtype: 0,
  qclass: 0,
  questionEnd: 0,
  edns: false,
  udpSize: CLASSIC_UDP_BYTES,
  dnssecOk: false,
});

/** Read a query. Never throws: what cannot be read becomes FORMERR, NOTIMP or DROP. */
export function parseQuery(msg: Buffer): Query {
  if (msg.length < HEADER_BYTES) return DROPPED;
  const flags = msg.readUInt16BE(2);
  if ((flags & FLAG.QR) !== 0) return DROPPED;
  const q: Query = {
    rcode: 0,
    id: msg.readUInt16BE(0),
    flags,
    key: '',
    qtype: 0,
    qclass: 0,
    questionEnd: 0,
    edns: false,
    udpSize: CLASSIC_UDP_BYTES,
    dnssecOk: false,
  };
  if (msg.length > MAX_QUERY_BYTES) return fail(q, RCODE.FORMERR);
  if ((flags & FLAG.OPCODE) !== 0) return fail(q, RCODE.NOTIMP);
  if (msg.readUInt16BE(4) !== 1 || msg.readUInt16BE(6) !== 0 || msg.readUInt16BE(8) !== 0) return fail(q, RCODE.FORMERR);
  if (!readQuestion(msg, q)) return fail(q, RCODE.FORMERR);
  const arcount = msg.readUInt16BE(10);
  if (arcount > 0 && !readAdditionals(msg, q, arcount)) return fail(q, RCODE.FORMERR);
  return q;
}

function fail(q: Query, rcode: number): Query {
  q.rcode = rcode;
  return q;
}

/**
 * The question at offset 12 into q.key/qtype/qclass/questionEnd. No
 * compression pointers: the first name of a message has nothing to point at.
 */
export function readQuestion(msg: Buffer, q: Pick<Query, 'key' | 'qtype' | 'qclass' | 'questionEnd'>): boolean {
  const len = msg.length;
  let off = HEADER_BYTES;
  let total = 1;
  let upper = false;
  for (;;) {
    if (off >= len) return false;
    const l = msg[off]!;
    if (l === 0) break;
    if (l > 63) return false;
    total += l + 1;
    if (total > 255 || off + 1 + l > len) return false;
    for (let i = off + 1; i <= off + l; i++) {
      const c = msg[i]!;
      if (c >= 0x41 && c <= 0x5a) upper = true;
    }
    off += l + 1;
  }
  if (off + 5 > len) return false;
  q.key = upper ? lowerKey(msg, HEADER_BYTES, off) : msg.toString('latin1', HEADER_BYTES, off);
  q.qtype = msg.readUInt16BE(off + 1);
  q.qclass = msg.readUInt16BE(off + 3);
  q.questionEnd = off + 5;
  return true;
}

/** ASCII-only case folding (RFC 4343): other octets are compared as they are. */
function lowerKey(msg: Buffer, start: number, end: number): string {
  const b = Buffer.allocUnsafe(end - start);
  for (let i = start; i < end; i++) {
    const c = msg[i]!;
    b[i - start] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
  }
  return b.toString('latin1');
}

/** Find the OPT record among the additionals; anything else there (TSIG, cookies' peers) is skipped. */
function readAdditionals(msg: Buffer, q: Query, count: number): boolean {
  let off = q.questionEnd;
  for (let n = 0; n < count; n++) {
    const nameStart = off;
    off = skipName(msg, off);
    if (off < 0 || off + 10 > msg.length) return false;
    const type = msg.readUInt16BE(off);
    const rdlen = msg.readUInt16BE(off + 8);
    if (off + 10 + rdlen > msg.length) return false;
    if (type === TYPE.OPT) {
      // RFC 6891 §6.1.1: one OPT, owned by the root.
      if (q.edns || msg[nameStart] !== 0) return false;
      q.edns = true;
      q.udpSize = Math.max(CLASSIC_UDP_BYTES, msg.readUInt16BE(off + 2));
      const version = msg[off + 5]!;
      q.dnssecOk = (msg.readUInt16BE(off + 6) & 0x8000) !== 0;
      if (version !== 0) q.rcode = RCODE.BADVERS;
    }
    off += 10 + rdlen;
  }
  return true;
}

/** Offset past the name at `off`, or -1. A compression pointer ends a name. */
export function skipName(msg: Buffer, off: number): number {
  for (let guard = 0; guard < 128; guard++) {
    if (off >= msg.length) return -1;
    const l = msg[off]!;
    if (l === 0) return off + 1;
    if ((l & 0xc0) === 0xc0) return off + 2 <= msg.length ? off + 2 : -1;
    if (l > 63) return -1;
    off += l + 1;
  }
  return -1;
}

/** "api.volt.local" → the lookup key of that name (lower case, wire form, no root label). */
export function nameKey(name: string): string {
  const labels = name.toLowerCase().split('.').filter((l) => l.length > 0);
  return labels.map((l) => String.fromCharCode(l.length) + l).join('');
}

/** The key's labels as text ("\x03api\x04volt\x05local" → ["api", "volt", "local"]). */
export function keyLabels(key: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < key.length; ) {
    const l = key.charCodeAt(i);
    out.push(key.slice(i + 1, i + 1 + l));
    i += l + 1;
  }
  return out;
}

/** Whether `key` is `zone` or below it, on a label boundary. */
export function keyWithin(key: string, zone: string): boolean {
  if (key === zone) return true;
  if (!key.endsWith(zone)) return false;
  const cut = key.length - zone.length;
  for (let i = 0; i < key.length; ) {
    if (i === cut) return true;
    if (i > cut) return false;
    i += key.charCodeAt(i) + 1;
  }
  return false;
}

/** Header + the query's own question bytes (its case kept) + tail; counts and flags as given. */
export function buildResponse(
  msg: Buffer,
  q: Query,
  flags: number,
  counts: { an: number; ns: number; ar: number },
  tail: Buffer | undefined,
  opt: Buffer | undefined,
): Buffer {
  const qlen = q.questionEnd > 0 ? q.questionEnd - HEADER_BYTES : 0;
  const tlen = tail === undefined ? 0 : tail.length;
  const olen = opt === undefined ? 0 : opt.length;
  const out = Buffer.allocUnsafe(HEADER_BYTES + qlen + tlen + olen);
  out.writeUInt16BE(q.id, 0);
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(qlen > 0 ? 1 : 0, 4);
  out.writeUInt16BE(counts.an, 6);
  out.writeUInt16BE(counts.ns, 8);
  out.writeUInt16BE(counts.ar + (olen > 0 ? 1 : 0), 10);
  if (qlen > 0) msg.copy(out, HEADER_BYTES, HEADER_BYTES, q.questionEnd);
  if (tail !== undefined) tail.copy(out, HEADER_BYTES + qlen);
  if (opt !== undefined) opt.copy(out, HEADER_BYTES + qlen + tlen);
  return out;
}

/** Flags of an answer to `q`: QR, the query's opcode, RD and CD echoed, plus `set` and the low rcode bits. */
export function answerFlags(q: Query, set: number, rcode: number): number {
  return FLAG.QR | (q.flags & (FLAG.OPCODE | FLAG.RD | FLAG.CD)) | set | (rcode & 0x0f);
}

export interface RecordScan {
  /** Byte offsets of every TTL field except OPT's (which holds flags, not a TTL). */
  ttlOffsets: number[];
  /** How long the answer may be cached: the smallest answer TTL, or for a negative answer the SOA's (RFC 2308). */
  ttl: number | undefined;
  rcode: number;
  ancount: number;
}

/**
 * Copy the query's DO bit into a response's OPT record (RFC 3225 §3: the DO
 * bit of the query MUST be copied in the response), whatever the upstream
 * that wrote the response did with it. A response without OPT, or one that
 * does not parse, is left as it is.
 */
export function copyDnssecOk(buf: Buffer, dnssecOk: boolean): void {
  if (buf.length < HEADER_BYTES) return;
  const qd = buf.readUInt16BE(4);
  const records = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  let off = HEADER_BYTES;
  for (let i = 0; i < qd; i++) {
    off = skipName(buf, off);
    if (off < 0 || off + 4 > buf.length) return;
    off += 4;
  }
  for (let i = 0; i < records; i++) {
    off = skipName(buf, off);
    if (off < 0 || off + 10 > buf.length) return;
    const rdlen = buf.readUInt16BE(off + 8);
    if (buf.readUInt16BE(off) === TYPE.OPT) {
      const z = buf.readUInt16BE(off + 6);
      buf.writeUInt16BE(dnssecOk ? z | 0x8000 : z & 0x7fff, off + 6);
      return;
    }
    off += 10 + rdlen;
  }
}

/** Walk a whole response (from an upstream): where its TTLs are and how long it may live. */
export function scanResponse(buf: Buffer): RecordScan | undefined {
  if (buf.length < HEADER_BYTES) return undefined;
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  let off = HEADER_BYTES;
  for (let i = 0; i < qd; i++) {
    off = skipName(buf, off);
    if (off < 0 || off + 4 > buf.length) return undefined;
    off += 4;
  }
  const ttlOffsets: number[] = [];
  let answerTtl: number | undefined;
  let soaTtl: number | undefined;
  for (let i = 0; i < an + ns + ar; i++) {
    off = skipName(buf, off);
    if (off < 0 || off + 10 > buf.length) return undefined;
    const type = buf.readUInt16BE(off);
    const ttl = Math.min(buf.readUInt32BE(off + 4), 0x7fffffff);
    const rdlen = buf.readUInt16BE(off + 8);
    if (off + 10 + rdlen > buf.length) return undefined;
    if (type !== TYPE.OPT) ttlOffsets.push(off + 4);
    if (i < an) answerTtl = answerTtl === undefined ? ttl : Math.min(answerTtl, ttl);
    else if (i < an + ns && type === TYPE.SOA && rdlen >= 20) {
      const minimum = buf.readUInt32BE(off + 10 + rdlen - 4);
      soaTtl = Math.min(ttl, minimum);
    }
    off += 10 + rdlen;
  }
  return { ttlOffsets, ttl: an > 0 ? answerTtl : soaTtl, rcode: buf.readUInt16BE(2) & 0x0f, ancount: an };
}
