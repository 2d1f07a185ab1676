import { encodeOptRecord } from './encode';
import { EDNS_UDP_BYTES, FLAG, RCODE, answerFlags, buildResponse, type Query } from './wire';

/** The OPT record volt-dns answers EDNS queries with (no options, DO clear). */
export const OPT_RECORD: Buffer = encodeOpt(0, false);
/** The same with DO set: the query's DO bit is copied into the answer (RFC 3225 §3), though volt-dns signs nothing. */
const OPT_RECORD_DO: Buffer = encodeOpt(0, true);
/** OPT with extended rcode 1: BADVERS (RFC 6891 §6.1.3). */
const OPT_BADVERS: Buffer = encodeOpt(1, false);
const OPT_BADVERS_DO: Buffer = encodeOpt(1, true);

function encodeOpt(extendedRcode: number, dnssecOk: boolean): Buffer {
  const b = encodeOptRecord(EDNS_UDP_BYTES);
  b[5] = extendedRcode;
  if (dnssecOk) b[7] = (b[7] ?? 0) | 0x80;
  return b;
}

/** The OPT record of an answer to `q`: none without EDNS, else one with the query's DO bit. */
export function optFor(q: Query): Buffer | undefined {
  if (!q.edns) return undefined;
  return q.dnssecOk ? OPT_RECORD_DO : OPT_RECORD;
}

const NO_COUNTS = { an: 0, ns: 0, ar: 0 };

/** An answer without records: the query's question echoed (when it could be read), and OPT for EDNS clients. */
export function errorResponse(msg: Buffer, q: Query, rcode: number, recursionAvailable = false): Buffer {
  const opt = rcode === RCODE.BADVERS ? (q.dnssecOk ? OPT_BADVERS_DO : OPT_BADVERS) : optFor(q);
  return buildResponse(msg, q, answerFlags(q, recursionAvailable ? FLAG.RA : 0, rcode), NO_COUNTS, undefined, opt);
}

/**
 * Fit an answer to what the client can take: over UDP, 512 bytes without
 * EDNS or its advertised size with it. Too big → header and question with TC
 * set, and the client retries over TCP (RFC 7766).
 */
export function fitToClient(resp: Buffer, msg: Buffer, q: Query, tcp: boolean): Buffer {
  if (tcp) return resp;
  const limit = q.edns ? q.udpSize : 512;
  if (resp.length <= limit) return resp;
  const flags = (resp.readUInt16BE(2) | FLAG.TC) & 0xffff;
  return buildResponse(msg, q, flags, NO_COUNTS, undefined, optFor(q));
}
