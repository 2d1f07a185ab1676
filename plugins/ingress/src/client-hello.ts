/**
 * Reads the server name (SNI) from the first bytes of a TLS connection
 * without terminating it: the ClientHello is sent in clear, in one or more
 * handshake records (RFC 8446 §4.1.2, RFC 6066 §3).
 */

export type ClientHelloResult =
  /** Not enough bytes yet: read more and call again with everything so far. */
  | { kind: 'incomplete' }
  /** The bytes are not a TLS ClientHello (plain HTTP on the TLS port, garbage). */
  | { kind: 'not-tls'; reason: string }
  /** A complete ClientHello; servername is absent when the client sent none. */
  | { kind: 'hello'; servername?: string };

/** Largest ClientHello we wait for (a post-quantum key share is ~1.2 KB; 16 KB is one full record). */
export const MAX_CLIENT_HELLO = 16 * 1024 + 5;

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;

export function parseClientHello(buf: Buffer): ClientHelloResult {
  // Reassemble the handshake payload from consecutive handshake records.
  const parts: Buffer[] = [];
  let have = 0;
  let need = -1;
  let off = 0;
  while (need < 0 || have < need) {
    if (buf.length < off + 5) return buf.length >= MAX_CLIENT_HELLO ? { kind: 'not-tls', reason: 'ClientHello too large' } : { kind: 'incomplete' };
    if (buf[off] !== RECORD_HANDSHAKE) return { kind: 'not-tls', reason: off === 0 ? 'not a TLS handshake record' : 'ClientHello interrupted by another record type' };
    if (buf[off + 1] !== 0x03) return { kind: 'not-tls', reason: 'unknown TLS record version' };
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > 16384 + 2048) return { kind: 'not-tls', reason: 'bad TLS record length' };
    if (buf.length < off + 5 + len) {
      return off + 5 + len > MAX_CLIENT_HELLO * 2 ? { kind: 'not-tls', reason: 'ClientHello too large' } : { kind: 'incomplete' };
    }
    const payload = buf.subarray(off + 5, off + 5 + len);
    parts.push(payload);
    have += payload.length;
    off += 5 + len;
    if (need < 0) {
      if (have < 4) continue;
      const hs = parts.length === 1 ? payload : Buffer.concat(parts);
      if (hs[0] !== HANDSHAKE_CLIENT_HELLO) return { kind: 'not-tls', reason: 'first handshake message is not a ClientHello' };
      need = 4 + ((hs[1]! << 16) | (hs[2]! << 8) | hs[3]!);
      if (need > MAX_CLIENT_HELLO * 2) return { kind: 'not-tls', reason: 'ClientHello too large' };
    }
  }
  const hs = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return readHello(hs.subarray(4, need));
}

function readHello(b: Buffer): ClientHelloResult {
  const bad = (why: string): ClientHelloResult => ({ kind: 'not-tls', reason: `malformed ClientHello: ${why}` });
  let p = 2 + 32; // legacy_version, random
  if (b.length < p + 1) return bad('too short');
  p += 1 + b[p]!; // session id
  if (b.length < p + 2) return bad('no cipher suites');
  p += 2 + b.readUInt16BE(p);
  if (b.length < p + 1) return bad('no compression methods');
  p += 1 + b[p]!;
  if (p === b.length) return { kind: 'hello' }; // no extensions at all
  if (b.length < p + 2) return bad('truncated extensions');
  const end = p + 2 + b.readUInt16BE(p);
  if (end > b.length) return bad('extensions overrun');
  p += 2;
  while (p + 4 <= end) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    p += 4;
    if (p + len > end) return bad('extension overruns');
    if (type === EXT_SERVER_NAME) return readServerName(b.subarray(p, p + len));
    p += len;
  }
  return { kind: 'hello' };
}

function readServerName(e: Buffer): ClientHelloResult {
  if (e.length < 2) return { kind: 'not-tls', reason: 'malformed server_name extension' };
  const end = 2 + e.readUInt16BE(0);
  let p = 2;
  while (p + 3 <= end && p + 3 <= e.length) {
    const type = e[p]!;
    const len = e.readUInt16BE(p + 1);
    p += 3;
    if (p + len > e.length) return { kind: 'not-tls', reason: 'malformed server_name extension' };
    if (type === 0) {
      const name = e.toString('latin1', p, p + len).toLowerCase();
      // Host names only (RFC 6066: no IP literals, no trailing dot); anything else is no name.
      if (!/^[a-z0-9.*-]+$/.test(name)) return { kind: 'hello' };
      return { kind: 'hello', servername: name.endsWith('.') ? name.slice(0, -1) : name };
    }
    p += len;
  }
  return { kind: 'hello' };
}
