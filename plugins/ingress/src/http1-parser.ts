/**
 * A strict HTTP/1.1 head parser for the ingress fast path (see
 * docs/decisions/0004-ingress-fast-path.md). It accepts only what it can
 * frame without doubt — an HTTP/1.1 request in origin form, CRLF line ends,
 * token header names, at most one Content-Length and no Transfer-Encoding —
 * and says `fallback` for everything else, which then goes to Node's own
 * http parser before any byte of that request is consumed. Requests that can
 * only be smuggling attempts (Content-Length with Transfer-Encoding, two
 * Content-Lengths, a malformed one, obs-fold, a stray CR or LF, a bad header
 * name) are `invalid`: answered 400 and the connection closed.
 *
 * Responses from backends are parsed with the same grammar; their framing
 * (Content-Length, chunked, close-delimited) is what lets the proxy reuse
 * upstream connections and forward bodies without re-encoding them.
 */

import { METHODS } from 'node:http';

/**
 * Methods llhttp (Node's parser) knows, CONNECT aside: another token goes to Node's path, which refuses it
 * (400), so both paths take the same set (found by the differential test, docs/decisions/0006).
 */
const KNOWN_METHODS = new Set(METHODS.filter((m) => m !== 'CONNECT'));

/** Node's own Buffer methods under `toString('latin1', …)` / `write(…, 'latin1')`, without their argument checks. */
interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number): number;
}
/** The bytes [start, end) as a string, one char per byte. */
export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as Latin1Buffer).latin1Slice(start, end);
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;

/** tchar (RFC 9110 §5.6.2). */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN[c.charCodeAt(0)] = 1;
/** field-vchar / SP / HTAB / obs-text: anything but CTLs and DEL. */
const VALUE = new Uint8Array(256);
for (let i = 0; i < 256; i++) VALUE[i] = (i >= 0x20 && i !== 0x7f) || i === HTAB ? 1 : 0;
/** request-target bytes accepted on the fast path: visible ASCII (anything else goes to Node). */
const TARGET = new Uint8Array(256);
for (let i = 0x21; i < 0x7f; i++) TARGET[i] = 1;

/** Header names the proxy looks at, by id. */
const enum H {
  Other = 0,
  Host,
  ContentLength,
  TransferEncoding,
  Connection,
  KeepAlive,
  ProxyConnection,
  ProxyAuthorization,
  TE,
  Trailer,
  Upgrade,
  Expect,
  XForwardedFor,
  XForwardedProto,
  XForwardedHost,
  Forwarded,
}

const NAMES: [string, H][] = [
  ['host', H.Host],
  ['content-length', H.ContentLength],
  ['transfer-encoding', H.TransferEncoding],
  ['connection', H.Connection],
  ['keep-alive', H.KeepAlive],
  ['proxy-connection', H.ProxyConnection],
  ['proxy-authorization', H.ProxyAuthorization],
  ['te', H.TE],
  ['trailer', H.Trailer],
  ['upgrade', H.Upgrade],
  ['expect', H.Expect],
  ['x-forwarded-for', H.XForwardedFor],
  ['x-forwarded-proto', H.XForwardedProto],
  ['x-forwarded-host', H.XForwardedHost],
  ['forwarded', H.Forwarded],
];
/** By length, then compared byte by byte, case-insensitively: no string per header. */
const BY_LENGTH: [Uint8Array, H][][] = [];
for (const [name, id] of NAMES) (BY_LENGTH[name.length] ??= []).push([Buffer.from(name, 'latin1'), id]);

function headerId(buf: Buffer, start: number, end: number): H {
  const candidates = BY_LENGTH[end - start];
  if (candidates === undefined) return H.Other;
  outer: for (const [name, id] of candidates) {
    for (let i = 0; i < name.length; i++) {
      let c = buf[start + i]!;
      if (c >= 65 && c <= 90) c |= 0x20;
      if (c !== name[i]) continue outer;
    }
    return id;
  }
  return H.Other;
}

/** The parsed head of a request the fast path can forward. */
export interface RequestHead {
  kind: 'request';
  /** Offset just past the blank line that ends the head. */
  headEnd: number;
  method: string;
  /** Origin-form target ("/path?query"), as sent. */
  target: string;
  /** The Host header's value, as sent (undefined when there is none). */
  host: string | undefined;
  /** Request body length (0: no body). */
  contentLength: number;
  /** The client asked to close after this request. */
  close: boolean;
  /** Header fields in the head (the request line excluded). */
  headerCount: number;
  /**
   * Byte ranges [start, end) of the head (header lines with their CRLF) to
   * forward upstream as they are: hop-by-hop fields, those Connection
   * names, Expect and the client's X-Forwarded-* / Forwarded left out.
   */
  forward: number[];
}

export interface HeadNotReady {
  kind: 'incomplete';
}
/** Not something the fast path frames: let Node's parser have the connection from this request on. */
export interface HeadFallback {
  kind: 'fallback';
  reason: string;
  /**
   * Offset of the minor version digit of an `HTTP/1.2`…`HTTP/1.9` request
   * line: the version is treated as 1.1 (RFC 9110 §2.5), so the digit is
   * rewritten to `1` before Node's parser (which refuses those) sees it.
   */
  minorAt?: number;
}
/** Malformed in a way that can only confuse framing: 400 and close. */
export interface HeadInvalid {
  kind: 'invalid';
  reason: string;
  /** The status to answer with: 400 unless said (505 for an HTTP version other than 1). */
  status?: number;
}

export type RequestParse = RequestHead | HeadNotReady | HeadFallback | HeadInvalid;

export interface HeadLimits {
  /** Request line + header lines, in bytes; beyond it Node answers (431). */
  maxHeaderBytes: number;
  /** Header fields; beyond it Node's path answers (431). */
  maxHeaderCount: number;
}

const INCOMPLETE: HeadNotReady = { kind: 'incomplete' };
const fallback = (reason: string, minorAt = -1): HeadFallback => (minorAt < 0 ? { kind: 'fallback', reason } : { kind: 'fallback', reason, minorAt });
const invalid = (reason: string): HeadInvalid => ({ kind: 'invalid', reason });

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/** Index of the CRLFCRLF ending a head that starts at `start`, or -1. */
function findHeadEnd(buf: Buffer, start: number, end: number): number {
  const i = buf.indexOf(CRLFCRLF, start);
  return i < 0 || i + 4 > end ? -1 : i;
}

/** An incomplete head that can never become one we accept (a bare LF): give it to Node now rather than waiting. */
function hasBareLf(buf: Buffer, start: number, end: number): boolean {
  for (let i = buf.indexOf(LF, start); i >= 0 && i < end; i = buf.indexOf(LF, i + 1)) {
    if (i === start || buf[i - 1] !== CR) return true;
  }
  return false;
}

/** Content-Length: 1*DIGIT, no sign, no list, at most 15 digits (below 2^53). */
function parseLength(buf: Buffer, start: number, end: number): number {
  const n = end - start;
  if (n === 0 || n > 15) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]! - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

const KEEP_ALIVE = Buffer.from('keep-alive', 'latin1');
const CLOSE = Buffer.from('close', 'latin1');

/** Is buf[start, end) `word` (lower case), ignoring ASCII case? */
function isWord(buf: Buffer, start: number, end: number, word: Buffer): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    let c = buf[start + i]!;
    if (c >= 65 && c <= 90) c |= 0x20;
    if (c !== word[i]) return false;
  }
  return true;
}

/**
 * Fields a Connection header can never remove: the framing the proxy parsed
 * is the framing it sends (issue 16: `Connection: Content-Length` dropped the
 * length but not the body, and the backend read the body as a second request).
 */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'host', 'upgrade']);

/** The tokens of a comma-separated header value, lower case. */
function tokens(value: string): string[] {
  const out: string[] = [];
  for (const t of value.split(',')) {
    const v = t.trim().toLowerCase();
    if (v !== '') out.push(v);
  }
  return out;
}

/**
 * Parse the request head at `buf[start, end)`. On `request`, the body (if
 * any) starts at `headEnd`.
 */
export function parseRequestHead(buf: Buffer, start: number, end: number, limits: HeadLimits): RequestParse {
  if (start >= end) return INCOMPLETE;
  const first = buf[start]!;
  // Leading blank lines (tolerated by RFC 9112 §2.2) and anything odd at the start: Node decides.
  if (TOKEN[first] !== 1) return fallback('request line does not start with a method');
  const crlf = findHeadEnd(buf, start, end);
  if (crlf < 0) {
    if (end - start > limits.maxHeaderBytes) return fallback('head larger than the limit');
    if (hasBareLf(buf, start, end)) return fallback('bare LF line ends');
    return INCOMPLETE;
  }
  const headEnd = crlf + 4;
  if (headEnd - start > limits.maxHeaderBytes) return fallback('head larger than the limit');

  // Request line: method SP request-target SP HTTP-version CRLF.
  let p = start;
  while (TOKEN[buf[p]!] === 1) p++;
  if (buf[p] !== SP) return fallback('malformed request line');
  const method = latin1(buf, start, p);
  const t0 = ++p;
  while (TARGET[buf[p]!] === 1) p++;
  // Nothing, or a byte outside visible ASCII (two spaces, UTF-8…): Node's parser decides.
  if (buf[p] !== SP || p === t0) return fallback(p === t0 ? 'request target not in origin form' : 'malformed request target');
  const target = latin1(buf, t0, p);
  p++;
  // HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3), case-sensitive.
  const v = p;
  if (buf[v + 8] !== CR || buf[v + 9] !== LF) {
    // Not a CRLF after 8 bytes (bare LF, trailing space, a longer version): Node's parser decides.
    return fallback('not HTTP/1.1');
  }
  const major = buf[v + 5]! - 48;
  const minor = buf[v + 7]! - 48;
  if (buf[v] !== 72 || buf[v + 1] !== 84 || buf[v + 2] !== 84 || buf[v + 3] !== 80 || buf[v + 4] !== 47 || buf[v + 6] !== 46 || major < 0 || major > 9 || minor < 0 || minor > 9) {
    return invalid('malformed HTTP version in the request line');
  }
  // HTTP/2 and later are not spoken over an HTTP/1 request line; 0.9 has no headers at all.
  if (major !== 1) return { kind: 'invalid', status: 505, reason: `HTTP/${major}.${minor} is not supported: send HTTP/1.1` };
  // HTTP/1.2 … 1.9: a later 1.x minor version is treated as 1.1 (RFC 9110 §2.5).
  const minorAt = minor > 1 ? v + 7 : -1;
  if (minor === 0) return fallback('not HTTP/1.1');
  if (buf[t0] !== 47 /* / */) return fallback('request target not in origin form', minorAt);
  if (!KNOWN_METHODS.has(method)) return fallback(method === 'CONNECT' ? 'CONNECT' : 'a method Node’s parser does not know', minorAt);
  p += 10;

  let host: string | undefined;
  let hosts = 0;
  let contentLength = -1;
  /** Why Node should have this request (decided once the whole head is known to be well-formed). */
  let handOver: string | undefined;
  let transferEncoding = false;
  let close = false;
  let headerCount = 0;
  let named: string[] | undefined;
  const forward: number[] = [];
  // Names of forwarded lines, only kept when a Connection header names other fields.
  const lineNames: number[] = [];
  let runStart = p;

  while (p < crlf + 2) {
    const lineStart = p;
    const c0 = buf[p]!;
    if (c0 === SP || c0 === HTAB) return invalid('obs-fold (a header line starting with whitespace)');
    while (TOKEN[buf[p]!] === 1) p++;
    const nameEnd = p;
    if (nameEnd === lineStart) return invalid('invalid header name');
    if (buf[p] !== COLON) return invalid(buf[p] === SP || buf[p] === HTAB ? 'whitespace before the colon' : 'invalid header name');
    p++;
    while (buf[p] === SP || buf[p] === HTAB) p++;
    const valueStart = p;
    while (VALUE[buf[p]!] === 1) p++;
    let valueEnd = p;
    if (buf[p] !== CR || buf[p + 1] !== LF) return invalid(buf[p] === LF ? 'bare LF' : buf[p] === CR ? 'bare CR' : 'control character in a header value');
    p += 2;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    headerCount++;

    const id = headerId(buf, lineStart, nameEnd);
    let keep = true;
    switch (id) {
      case H.Other:
        break;
      case H.Host:
        hosts++;
        if (hosts > 1) return invalid('more than one Host header');
        host = latin1(buf, valueStart, valueEnd);
        break;
      case H.ContentLength: {
        if (contentLength >= 0) return invalid('more than one Content-Length');
        contentLength = parseLength(buf, valueStart, valueEnd);
        if (contentLength < 0) return invalid('invalid Content-Length');
        // llhttp refuses a tab after the digits (trailing spaces it allows): so do we.
        for (let i = valueEnd; i < p - 2; i++) if (buf[i] === HTAB) return invalid('invalid Content-Length');
        break;
      }
      case H.ProxyConnection:
        // Not forwarded; but llhttp closes on `Proxy-Connection: close` as on Connection, and so do we.
        keep = false;
        if (isWord(buf, valueStart, valueEnd, CLOSE)) close = true;
        break;
      case H.TransferEncoding:
        // Chunked request bodies (and anything else with Transfer-Encoding) are Node's.
        transferEncoding = true;
        handOver ??= 'Transfer-Encoding';
        break;
      case H.Upgrade:
        handOver ??= 'Upgrade';
        break;
      case H.Expect:
        handOver ??= 'Expect';
        break;
      case H.Connection: {
        keep = false;
        if (isWord(buf, valueStart, valueEnd, KEEP_ALIVE)) break;
        if (isWord(buf, valueStart, valueEnd, CLOSE)) {
          close = true;
          break;
        }
        for (const tok of tokens(latin1(buf, valueStart, valueEnd))) {
          if (tok === 'close') close = true;
          else if (tok === 'upgrade') handOver ??= 'Connection: upgrade';
          else if (tok !== 'keep-alive' && !FRAMING.has(tok)) (named ??= []).push(tok);
        }
        break;
      }
      default:
        // Hop-by-hop fields and the client's own forwarding headers.
        keep = false;
    }
    if (keep) {
      lineNames.push(lineStart, nameEnd);
    } else {
      if (lineStart > runStart) forward.push(runStart, lineStart);
      runStart = p;
    }
  }
  if (p > runStart) forward.push(runStart, p);
  if (headerCount > limits.maxHeaderCount) return fallback('too many header fields', minorAt);
  // Both framings at once is the classic smuggling vector: refused, whatever their order.
  if (transferEncoding && contentLength >= 0) return invalid('Content-Length and Transfer-Encoding');
  if (handOver !== undefined) return fallback(handOver, minorAt);
  if (named !== undefined) {
    // Drop the fields the Connection header names (rare): rebuild the ranges line by line.
    forward.length = 0;
    for (let i = 0; i < lineNames.length; i += 2) {
      const ls = lineNames[i]!;
      const name = latin1(buf, ls, lineNames[i + 1]!).toLowerCase();
      if (named.includes(name)) continue;
      const le = buf.indexOf(LF, ls) + 1;
      const last = forward.length - 1;
      if (last > 0 && forward[last] === ls) forward[last] = le;
      else forward.push(ls, le);
    }
  }
  return { kind: 'request', headEnd, method, target, host, contentLength: contentLength < 0 ? 0 : contentLength, close, headerCount, forward };
}

/** How the end of a response body is found. */
export const enum BodyKind {
  /** No body (204, 304, HEAD). */
  None = 0,
  Length = 1,
  Chunked = 2,
  /** Until the backend closes the connection. */
  Close = 3,
}

export interface ResponseHead {
  kind: 'response';
  headEnd: number;
  status: number;
  body: BodyKind;
  /** With BodyKind.Length. */
  length: number;
  /** The backend keeps the connection open after this response. */
  reusable: boolean;
  /** A `Keep-Alive: timeout=N` hint, in ms (0: none). */
  keepAliveMs: number;
  /** The status line and header lines for the client: [start, end) ranges, status line at 0..1. */
  forward: number[];
}

/** An interim (1xx other than 101) response: forwarded to HTTP/1.1 clients (same ranges as ResponseHead.forward), the real one follows. */
export interface ResponseInterim {
  kind: 'interim';
  headEnd: number;
  status: number;
  forward: number[];
}

/** 101 Switching Protocols to a request that asked to upgrade (`parseResponseHead(…, upgrade = true)`). */
export interface ResponseSwitch {
  kind: 'switch';
  headEnd: number;
  /** The Upgrade header's value ('' when there is none). */
  upgrade: string;
}

export type ResponseParse = ResponseHead | ResponseInterim | ResponseSwitch | HeadNotReady | HeadInvalid;

/** Response heads above this are refused (502). */
export const MAX_RESPONSE_HEAD = 64 * 1024;

/**
 * Parse a backend's response head at `buf[start, end)`. `headRequest`: the
 * request was HEAD (no body whatever the headers say).
 */
export function parseResponseHead(buf: Buffer, start: number, end: number, headRequest: boolean, upgrade = false): ResponseParse {
  const crlf = findHeadEnd(buf, start, end);
  if (crlf < 0) {
    if (end - start > MAX_RESPONSE_HEAD) return invalid('response head too large');
    // Bare LF line ends would never complete a head: refused now rather than at the timeout.
    return hasBareLf(buf, start, end) ? invalid('bare LF in the response head') : INCOMPLETE;
  }
  const headEnd = crlf + 4;
  if (headEnd - start > MAX_RESPONSE_HEAD) return invalid('response head too large');
  // "HTTP/1.x SSS"
  let p = start;
  if (buf[p] !== 72 || buf[p + 1] !== 84 || buf[p + 2] !== 84 || buf[p + 3] !== 80 || buf[p + 4] !== 47 || buf[p + 5] !== 49 || buf[p + 6] !== 46) {
    return invalid('not an HTTP/1 response');
  }
  const minor = buf[p + 7]!;
  if ((minor !== 48 && minor !== 49) || buf[p + 8] !== SP) return invalid('not an HTTP/1 response');
  p += 9;
  const d0 = buf[p]! - 48;
  const d1 = buf[p + 1]! - 48;
  const d2 = buf[p + 2]! - 48;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return invalid('invalid status code');
  const status = d0 * 100 + d1 * 10 + d2;
  p += 3;
  const statusStart = p - 3;
  if (buf[p] === SP) {
    p++;
    while (VALUE[buf[p]!] === 1) p++;
  }
  if (buf[p] !== CR || buf[p + 1] !== LF) return invalid('malformed status line');
  p += 2;
  if (status === 101 && !upgrade) return invalid('101 Switching Protocols to a request that did not ask for it');
  const forward: number[] = [statusStart, p];
  let upgradeValue = '';

  let length = -1;
  let chunked = false;
  let transferEncoding = false;
  let reusable = minor === 49;
  let keepAliveMs = 0;
  let named: string[] | undefined;
  let contentLengthLines: number[] | undefined;
  const lineNames: number[] = [];
  let runStart = p;
  while (p < crlf + 2) {
    const lineStart = p;
    while (TOKEN[buf[p]!] === 1) p++;
    const nameEnd = p;
    if (nameEnd === lineStart || buf[p] !== COLON) return invalid('invalid response header name');
    p++;
    while (buf[p] === SP || buf[p] === HTAB) p++;
    const valueStart = p;
    while (VALUE[buf[p]!] === 1) p++;
    let valueEnd = p;
    if (buf[p] !== CR || buf[p + 1] !== LF) return invalid('malformed response header line');
    p += 2;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    let keep = true;
    switch (headerId(buf, lineStart, nameEnd)) {
      case H.ContentLength: {
        // "5", or repeated/listed identical values ("5, 5"): one length; differing ones are an error.
        const n = parseLength(buf, valueStart, valueEnd);
        if (n >= 0 && (length < 0 || n === length)) {
          length = n;
          (contentLengthLines ??= []).push(lineStart, p);
          break;
        }
        for (const v of latin1(buf, valueStart, valueEnd).split(',')) {
          const s = v.trim();
          const n = /^[0-9]{1,15}$/.test(s) ? Number(s) : -1;
          if (n < 0 || (length >= 0 && n !== length)) return invalid('invalid Content-Length in the response');
          length = n;
        }
        (contentLengthLines ??= []).push(lineStart, p);
        break;
      }
      case H.TransferEncoding: {
        // Forwarded as it is (the body is passed through still encoded); its last coding decides the framing.
        transferEncoding = true;
        const codings = tokens(latin1(buf, valueStart, valueEnd));
        chunked = codings.length > 0 && codings[codings.length - 1] === 'chunked';
        break;
      }
      case H.Connection:
        keep = false;
        // The usual values, without a string.
        if (isWord(buf, valueStart, valueEnd, KEEP_ALIVE)) break;
        if (isWord(buf, valueStart, valueEnd, CLOSE)) {
          reusable = false;
          break;
        }
        for (const tok of tokens(latin1(buf, valueStart, valueEnd))) {
          if (tok === 'close') reusable = false;
          // HTTP/1.0 "keep-alive" is not relied upon: such a backend gets a connection per request.
          else if (tok !== 'keep-alive' && !FRAMING.has(tok)) (named ??= []).push(tok);
        }
        break;
      case H.KeepAlive: {
        keep = false;
        const m = /timeout\s*=\s*(\d+)/i.exec(latin1(buf, valueStart, valueEnd));
        if (m) keepAliveMs = Number(m[1]) * 1000;
        break;
      }
      case H.Upgrade:
        keep = false;
        upgradeValue = upgradeValue === '' ? latin1(buf, valueStart, valueEnd) : `${upgradeValue}, ${latin1(buf, valueStart, valueEnd)}`;
        break;
      case H.ProxyConnection:
      case H.TE:
        keep = false;
        break;
      default:
        break;
    }
    if (keep) lineNames.push(lineStart, nameEnd);
    else {
      if (lineStart > runStart) forward.push(runStart, lineStart);
      runStart = p;
    }
  }
  if (p > runStart) forward.push(runStart, p);
  // Both framings at once (RFC 9112 §6.3: "ought to be handled as an error"): the backend is not trusted with the connection.
  if (transferEncoding && contentLengthLines !== undefined) return invalid('Content-Length and Transfer-Encoding in the response');
  if (status === 101) return { kind: 'switch', headEnd, upgrade: upgradeValue };
  if (named !== undefined) {
    const drop = new Set(named);
    forward.length = 2;
    for (let i = 0; i < lineNames.length; i += 2) {
      const ls = lineNames[i]!;
      const name = latin1(buf, ls, lineNames[i + 1]!).toLowerCase();
      if (drop.has(name)) continue;
      const le = buf.indexOf(LF, ls) + 1;
      const last = forward.length - 1;
      if (last > 1 && forward[last] === ls) forward[last] = le;
      else forward.push(ls, le);
    }
  }
  if (status < 200) return { kind: 'interim', headEnd, status, forward };
  let body: BodyKind;
  if (headRequest || status === 204 || status === 304) body = BodyKind.None;
  else if (transferEncoding) body = chunked ? BodyKind.Chunked : BodyKind.Close;
  else if (length >= 0) body = BodyKind.Length;
  else body = BodyKind.Close;
  if (body === BodyKind.Close) reusable = false;
  return { kind: 'response', headEnd, status, body, length: length < 0 ? 0 : length, reusable, keepAliveMs, forward };
}

const enum C {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerLine,
  TrailerLf,
  LastLf,
  Done,
}

/**
 * Finds the end of a chunked body (RFC 9112 §7.1) in the bytes that pass
 * through, without decoding it: the body is forwarded as it came.
 */
export class ChunkedScanner {
  private state = C.Size;
  private size = 0;
  private digits = 0;
  private remaining = 0;

  reset(): void {
    this.state = C.Size;
    this.size = 0;
    this.digits = 0;
    this.remaining = 0;
  }

  get done(): boolean {
    return this.state === C.Done;
  }

  /**
   * Scan `buf[start, end)`: the offset just past the end of the body when it
   * ends there, -1 when it goes on, -2 when the framing is broken.
   */
  feed(buf: Buffer, start: number, end: number): number {
    let p = start;
    while (p < end) {
      const c = buf[p]!;
      switch (this.state) {
        case C.Size: {
          let v = -1;
          if (c >= 48 && c <= 57) v = c - 48;
          else if (c >= 97 && c <= 102) v = c - 87;
          else if (c >= 65 && c <= 70) v = c - 55;
          if (v >= 0) {
            if (++this.digits > 12) return -2;
            this.size = this.size * 16 + v;
          } else if (this.digits === 0) return -2;
          else if (c === CR) this.state = C.SizeLf;
          else if (c === 59 /* ; */ || c === SP || c === HTAB) this.state = C.Ext;
          else return -2;
          p++;
          break;
        }
        case C.Ext:
          if (c === CR) this.state = C.SizeLf;
          else if (c === LF || (c < 0x20 && c !== HTAB) || c === 0x7f) return -2;
          p++;
          break;
        case C.SizeLf:
          if (c !== LF) return -2;
          p++;
          if (this.size === 0) this.state = C.TrailerStart;
          else {
            this.remaining = this.size;
            this.state = C.Data;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case C.Data: {
          const n = Math.min(this.remaining, end - p);
          this.remaining -= n;
          p += n;
          if (this.remaining === 0) this.state = C.DataCr;
          break;
        }
        case C.DataCr:
          if (c !== CR) return -2;
          this.state = C.DataLf;
          p++;
          break;
        case C.DataLf:
          if (c !== LF) return -2;
          this.state = C.Size;
          p++;
          break;
        case C.TrailerStart:
          this.state = c === CR ? C.LastLf : C.TrailerLine;
          if (c === LF) return -2;
          p++;
          break;
        case C.TrailerLine:
          if (c === CR) this.state = C.TrailerLf;
          else if (c === LF) return -2;
          p++;
          break;
        case C.TrailerLf:
          if (c !== LF) return -2;
          this.state = C.TrailerStart;
          p++;
          break;
        case C.LastLf:
          if (c !== LF) return -2;
          this.state = C.Done;
          return p + 1;
        case C.Done:
          return p;
      }
    }
    return -1;
  }
}

/** Copy [start, end) ranges of `src` into one buffer, with `prefix` before and `suffix` after (latin1 strings). */
export function assemble(prefix: string, src: Buffer, ranges: readonly number[], from: number, suffix: string, extra?: Buffer, extraStart = 0, extraEnd = 0): Buffer {
  let n = prefix.length + suffix.length + (extraEnd - extraStart);
  for (let i = from; i < ranges.length; i += 2) n += ranges[i + 1]! - ranges[i]!;
  const out = Buffer.allocUnsafe(n);
  let o = prefix.length === 0 ? 0 : (out as Latin1Buffer).latin1Write(prefix, 0);
  for (let i = from; i < ranges.length; i += 2) o += src.copy(out, o, ranges[i]!, ranges[i + 1]!);
  if (suffix.length > 0) o += (out as Latin1Buffer).latin1Write(suffix, o);
  if (extra !== undefined && extraEnd > extraStart) extra.copy(out, o, extraStart, extraEnd);
  return out;
}
