/**
 * The few records volt-dns writes itself (A, AAAA, PTR, SOA, OPT), in wire
 * form, without dns2: its bit-by-bit writer costs tens of microseconds per
 * record and its module a reading thread's start-up (docs/decisions/0012).
 * Byte for byte what dns2's `Packet.Resource.encode` gives for the same
 * record (test/unit/dns-encode.test.ts compares them): names as labels
 * without compression (each character's low byte, as dns2 writes them), TTLs
 * clamped to 2^31 − 1 (RFC 2181 §8).
 */

const MAX_LABEL = 63;
const MAX_NAME = 255;
const TYPE_A = 1;
const TYPE_PTR = 12;
const TYPE_SOA = 6;
const TYPE_AAAA = 28;
const TYPE_OPT = 41;
const CLASS_IN = 1;

/** A name as labels and the root label; throws for a label over 63 octets or a name over 255. */
export function encodeName(domain: string): Buffer {
  const parts = domain.split('.').filter((p) => p !== '');
  let total = 1;
  for (const p of parts) {
    if (p.length > MAX_LABEL) throw new Error(`Name encode: label "${p}" is ${p.length} octets (max ${MAX_LABEL})`);
    total += p.length + 1;
  }
  if (total > MAX_NAME) throw new Error(`Name encode: name "${domain}" encodes to ${total} octets (max ${MAX_NAME})`);
  const b = Buffer.allocUnsafe(total);
  let at = 0;
  for (const p of parts) {
    b[at++] = p.length;
    at += b.write(p, at, 'latin1');
  }
  b[at] = 0;
  return b;
}

function resource(name: string, type: number, cls: number, ttl: number, rdata: Buffer): Buffer {
  const n = encodeName(name);
  const b = Buffer.allocUnsafe(n.length + 10 + rdata.length);
  n.copy(b, 0);
  let at = n.length;
  at = b.writeUInt16BE(type, at);
  at = b.writeUInt16BE(cls, at);
  at = b.writeUInt32BE(Math.min(ttl >>> 0, 0x7fffffff), at);
  at = b.writeUInt16BE(rdata.length, at);
  rdata.copy(b, at);
  return b;
}

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map((p) => parseInt(p, 10) & 0xff));
}

/** The 16 bytes of an IPv6 address written with or without "::" (dns2's fromIPv6, without its quirks for bad input). */
function ipv6Bytes(address: string): Buffer {
  const digits = address.split(':');
  if (digits[0] === '') digits.shift();
  if (digits[digits.length - 1] === '') digits.pop();
  const missing = 8 - digits.length + 1;
  const groups = digits.flatMap((d) => (d === '' ? Array<string>(missing).fill('0') : [d]));
  const b = Buffer.alloc(16);
  groups.slice(0, 8).forEach((g, i) => b.writeUInt16BE(parseInt(g, 16) & 0xffff, i * 2));
  return b;
}

/** An A, AAAA or PTR record (`value`: the address, or the PTR's target name). */
export function encodeAddressOrPtr(name: string, type: number, value: string, ttl: number): Buffer {
  if (type === TYPE_A) return resource(name, TYPE_A, CLASS_IN, ttl, ipv4Bytes(value));
  if (type === TYPE_AAAA) return resource(name, TYPE_AAAA, CLASS_IN, ttl, ipv6Bytes(value));
  if (type === TYPE_PTR) return resource(name, TYPE_PTR, CLASS_IN, ttl, encodeName(value));
  throw new Error(`encode: type ${type} is not A, AAAA or PTR`);
}

export interface SoaFields {
  primary: string;
  admin: string;
  serial: number;
  refresh: number;
  retry: number;
  expiration: number;
  minimum: number;
}

export function encodeSoa(name: string, ttl: number, f: SoaFields): Buffer {
  const p = encodeName(f.primary);
  const a = encodeName(f.admin);
  const rdata = Buffer.allocUnsafe(p.length + a.length + 20);
  p.copy(rdata, 0);
  a.copy(rdata, p.length);
  let at = p.length + a.length;
  for (const v of [f.serial, f.refresh, f.retry, f.expiration]) at = rdata.writeUInt32BE(v >>> 0, at);
  rdata.writeUInt32BE(Math.min(f.minimum >>> 0, 0x7fffffff), at);
  return resource(name, TYPE_SOA, CLASS_IN, ttl, rdata);
}

/** An OPT pseudo-record without options: root name, class = the UDP payload size, TTL 0. */
export function encodeOptRecord(udpBytes: number): Buffer {
  return resource('', TYPE_OPT, udpBytes, 0, Buffer.alloc(0));
}
