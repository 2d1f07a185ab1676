/**
 * Request targets and Host values as the ingress routes them, for both the
 * fast path and Node's path: one normalisation of the path (the form routes
 * are matched on and the backend receives), absolute-form targets (RFC 9112
 * §3.2.2) and Host validation. Rules and reasons: docs/ingress.md, "Request
 * targets and paths".
 */

/** Why a target or Host is refused (answered 400). */
export interface Refusal {
  error: string;
}

/** unreserved (RFC 3986 §2.3): ALPHA / DIGIT / "-" / "." / "_" / "~" — decoded when percent-encoded. */
const UNRESERVED = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') UNRESERVED[c.charCodeAt(0)] = 1;

/** Hex digit value + 1 (0: not a hex digit). */
const HEX = new Uint8Array(128);
for (let i = 0; i < 16; i++) {
  HEX['0123456789abcdef'.charCodeAt(i)] = i + 1;
  HEX['0123456789ABCDEF'.charCodeAt(i)] = i + 1;
}
const UPPER_HEX = '0123456789ABCDEF';

const SLASH = 47;
const DOT = 46;
const PERCENT = 37;
const QUESTION = 63;

/**
 * Normalise an origin-form target ("/path?query") once: percent-encoded
 * unreserved characters decoded, other escapes kept (hex upper-cased),
 * repeated slashes merged, "." and ".." segments removed (RFC 3986 §5.2.4);
 * the query string is left as it is. Refused: a path that climbs above the
 * root, an invalid escape ("%zz", "%4"), an encoded NUL, a backslash, a
 * "#", bytes outside visible ASCII, and "..;" / ".;" segments (which some
 * backends read as "..").
 *
 * The common target (none of "%", "\", "//", "/." in the path) is returned
 * as it is, without copying.
 */
export function normalizeTarget(target: string): string | Refusal {
  const n = target.length;
  if (n === 0 || target.charCodeAt(0) !== SLASH) return { error: 'request target must start with "/"' };
  let end = n;
  let simple = true;
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const c = target.charCodeAt(i);
    if (c === QUESTION) {
      end = i;
      break;
    }
    if (c <= 0x20 || c >= 0x7f || c === 35 /* # */ || c === 92 /* \ */) return refuseChar(c);
    if (c === PERCENT || (prev === SLASH && (c === SLASH || c === DOT))) simple = false;
    prev = c;
  }
  if (simple) return target;
  const decoded = decodeUnreserved(target, end);
  if (typeof decoded !== 'string') return decoded;
  const path = removeDotSegments(decoded);
  if (typeof path !== 'string') return path;
  return end === n ? path : path + target.slice(end);
}

function refuseChar(c: number): Refusal {
  if (c === 92) return { error: 'backslash in the request path (write "/", or %5C for a literal backslash)' };
  if (c === 35) return { error: '"#" in the request target (a fragment is not sent to servers)' };
  return { error: `byte 0x${c.toString(16).padStart(2, '0')} in the request target (only visible ASCII; percent-encode the rest)` };
}

/** `target[0, end)` with %XX of unreserved characters decoded and the hex of the others upper-cased. */
function decodeUnreserved(target: string, end: number): string | Refusal {
  let out = '';
  let from = 0;
  for (let i = 0; i < end; i++) {
    if (target.charCodeAt(i) !== PERCENT) continue;
    const h = i + 1 < end ? HEX[target.charCodeAt(i + 1)] ?? 0 : 0;
    const l = i + 2 < end ? HEX[target.charCodeAt(i + 2)] ?? 0 : 0;
    if (h === 0 || l === 0) return { error: `invalid percent-encoding "${target.slice(i, Math.min(i + 3, end))}" in the request path (write %25 for a literal "%")` };
    const v = (h - 1) * 16 + (l - 1);
    if (v === 0) return { error: 'encoded NUL (%00) in the request path' };
    out += target.slice(from, i);
    out += v < 128 && UNRESERVED[v] === 1 ? String.fromCharCode(v) : `%${UPPER_HEX[v >> 4]!}${UPPER_HEX[v & 15]!}`;
    from = i + 3;
    i += 2;
  }
  return from === 0 ? target.slice(0, end) : out + target.slice(from, end);
}

/** Merge repeated slashes and remove dot segments from an absolute path; refuse one that climbs above the root. */
function removeDotSegments(path: string): string | Refusal {
  const segments = path.split('/');
  const out: string[] = [];
  let trailing = false;
  // segments[0] is the empty string before the leading "/".
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === '' || s === '.') {
      trailing = last;
      continue;
    }
    if (s === '..') {
      if (out.length === 0) return { error: 'request path climbs above the root ("..")' };
      out.pop();
      trailing = last;
      continue;
    }
    if (s.charCodeAt(0) === DOT && (s.startsWith('.;') || s.startsWith('..;'))) return { error: `"${s.length > 16 ? s.slice(0, 16) + '…' : s}" segment in the request path (some servers read it as a dot segment)` };
    out.push(s);
    trailing = false;
  }
  if (out.length === 0) return '/';
  return trailing ? `/${out.join('/')}/` : `/${out.join('/')}`;
}

/** A Host value (or a target's authority) taken apart. */
export interface HostName {
  /** Lower case, without brackets, port or trailing dot: what routes are keyed by. */
  name: string;
  /** The port, when one was given. */
  port?: number;
}

/** Characters of a host name: letters, digits, "-", "_" and "." (checked for empty labels separately). */
const NAME = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.') NAME[c.charCodeAt(0)] = 1;
const IPV6 = new Uint8Array(128);
for (const c of '0123456789abcdefABCDEF:.') IPV6[c.charCodeAt(0)] = 1;

/**
 * Parse a Host header value (RFC 9110 §7.2: uri-host [":" port]): a DNS-style
 * name or a bracketed IPv6 literal, then optionally ":" and 1–5 digits up to
 * 65535. Anything else — whitespace inside, other characters, an empty
 * label, an empty or non-numeric port — is refused.
 */
export function parseHost(value: string | undefined): HostName | Refusal {
  if (value === undefined || value === '') return { error: 'missing Host header' };
  if (value.length > 261) return { error: 'Host header too long' };
  let name: string;
  let rest: string;
  if (value.charCodeAt(0) === 91 /* [ */) {
    const close = value.indexOf(']');
    if (close < 0) return { error: 'unclosed "[" in Host' };
    name = value.slice(1, close);
    if (name === '' || !name.includes(':')) return { error: 'not an IPv6 address inside "[…]" in Host' };
    for (let i = 0; i < name.length; i++) if (IPV6[name.charCodeAt(i)] !== 1) return { error: 'not an IPv6 address inside "[…]" in Host' };
    rest = value.slice(close + 1);
    name = name.toLowerCase();
  } else {
    // One pass: characters, empty labels, upper case, up to the port's colon.
    const n = value.length;
    let colon = n;
    let upper = false;
    let prev = 0;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c === 58 /* : */) {
        colon = i;
        break;
      }
      if (c >= 128 || NAME[c] !== 1) return { error: c === 32 || c === 9 ? 'whitespace inside Host' : `character ${JSON.stringify(value[i])} in the host name in Host` };
      if (c === DOT && prev === DOT) return { error: 'empty label in the host name in Host' };
      if (c <= 90 && c >= 65) upper = true;
      prev = c;
    }
    // A trailing dot (the root label) is dropped; a leading one is an empty label.
    const stop = colon > 0 && value.charCodeAt(colon - 1) === DOT ? colon - 1 : colon;
    if (stop === 0) return { error: 'empty host name in Host' };
    if (value.charCodeAt(0) === DOT) return { error: 'empty label in the host name in Host' };
    if (stop > 253) return { error: 'host name longer than 253 characters in Host' };
    name = stop === n ? value : value.slice(0, stop);
    if (upper) name = name.toLowerCase();
    rest = colon === n ? '' : value.slice(colon);
  }
  if (rest === '') return { name };
  if (rest.charCodeAt(0) !== 58 /* : */) return { error: 'junk after the host in Host' };
  const digits = rest.slice(1);
  if (digits === '' || digits.length > 5) return { error: `invalid port "${digits}" in Host (1–65535)` };
  let port = 0;
  for (let i = 0; i < digits.length; i++) {
    const d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return { error: `invalid port "${digits}" in Host (1–65535)` };
    port = port * 10 + d;
  }
  if (port === 0 || port > 65535) return { error: `invalid port "${digits}" in Host (1–65535)` };
  return { name, port };
}

/** An absolute-form target ("http://authority/path?query") split: the authority becomes Host. */
export interface AbsoluteTarget {
  authority: string;
  /** The rest in origin form ("/" when empty), not yet normalised. */
  target: string;
}

/**
 * Split an absolute-form target (RFC 9112 §3.2.2). Only http and https;
 * userinfo ("user@host") is refused, as is an empty authority.
 */
export function splitAbsoluteTarget(url: string): AbsoluteTarget | Refusal {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(url);
  if (!m) return { error: 'request target is neither a path ("/…") nor an absolute http(s) URL' };
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return { error: `scheme "${m[1]!}" in the request target (only http and https)` };
  const authority = m[2]!;
  if (authority.includes('@')) return { error: 'userinfo ("user@") in the request target' };
  if (authority === '') return { error: 'empty authority in the request target' };
  const rest = m[3]!;
  return { authority, target: rest === '' ? '/' : rest.charCodeAt(0) === QUESTION ? `/${rest}` : rest };
}

/** A raw header list ([name, value, …]) with every Host replaced by one `host` (added first when there was none). */
export function withHost(raw: readonly string[], host: string): string[] {
  const out: string[] = [];
  let done = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') {
      if (!done) out.push(name, host);
      done = true;
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  if (!done) out.unshift('Host', host);
  return out;
}

/** How many Host fields a raw header list has. */
export function hostCount(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') n++;
  return n;
}
