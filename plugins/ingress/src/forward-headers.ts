import type { IncomingHttpHeaders } from 'node:http';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and those the proxy sets itself. */
const DROP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // The client's 100-continue is answered by the proxy's own server.
  'expect',
  // The proxy is the edge: forwarding headers from clients are replaced, never trusted.
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
]);

const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export interface ForwardContext {
  /** The client's address as the proxy saw it. */
  clientIp: string;
  proto: 'http' | 'https';
  /** The Host header as the client sent it. */
  host: string;
}

/** Tokens named by a Connection header ("keep-alive, X-Foo") are hop-by-hop too. */
function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let out: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
      for (const t of raw[i + 1]!.split(',')) {
        const v = t.trim().toLowerCase();
        // Framing fields are never removable by Connection (issue 16); Host is kept below anyway.
        if (v !== '' && v !== 'close' && v !== 'keep-alive' && v !== 'upgrade' && v !== 'content-length' && v !== 'transfer-encoding' && v !== 'host') (out ??= new Set()).add(v);
      }
    }
  }
  return out;
}

/** What one pass over a request's raw headers yields. */
export interface ScannedRequest {
  /** Headers to send upstream ([name, value, …], order and duplicates kept), X-Forwarded-* not yet added. */
  headers: string[];
  /** The Host header as sent (the first one). */
  host?: string;
  /** A body follows (Content-Length other than 0, or Transfer-Encoding). */
  hasBody: boolean;
  /** How many Host headers the client sent (more than one is a 400). */
  hostCount: number;
}

/**
 * One pass over the client's raw headers: drops hop-by-hop ones (and those
 * a Connection header names) and the client's X-Forwarded-*, notes Host and
 * whether a body follows. Host is passed on unchanged.
 */
export function scanRequestHeaders(raw: readonly string[]): ScannedRequest {
  const extra = connectionTokens(raw);
  const headers: string[] = [];
  let host: string | undefined;
  let hasBody = false;
  let hostCount = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'host') {
      host ??= raw[i + 1]!;
      hostCount++;
    } else if (lower === 'content-length') {
      if (raw[i + 1] !== '0') hasBody = true;
    } else if (lower === 'transfer-encoding') {
      hasBody = true;
      continue;
    } else if (DROP_REQUEST.has(lower) || (extra !== undefined && extra.has(lower))) continue;
    headers.push(name, raw[i + 1]!);
  }
  return host === undefined ? { headers, hasBody, hostCount } : { headers, host, hasBody, hostCount };
}

/** Append the proxy's own X-Forwarded-* to a scanned header list. */
export function addForwarded(headers: string[], ctx: ForwardContext): string[] {
  headers.push('x-forwarded-for', ctx.clientIp, 'x-forwarded-proto', ctx.proto, 'x-forwarded-host', ctx.host);
  return headers;
}

/** The headers to send upstream: the client's, minus hop-by-hop ones, plus X-Forwarded-*. */
export function upstreamRequestHeaders(raw: readonly string[], ctx: ForwardContext): string[] {
  return addForwarded(scanRequestHeaders(raw).headers, ctx);
}

/**
 * The backend's response headers for the client, as a flat [name, value, …]
 * list (a repeated header keeps its array), minus hop-by-hop ones — Node
 * frames the body itself.
 */
export function downstreamResponseHeaders(headers: IncomingHttpHeaders): (string | string[])[] {
  const conn = headers.connection;
  let named: Set<string> | undefined;
  if (typeof conn === 'string' && conn.includes(',')) {
    for (const t of conn.split(',')) {
      const v = t.trim().toLowerCase();
      if (v !== '') (named ??= new Set()).add(v);
    }
  } else if (typeof conn === 'string') {
    const v = conn.trim().toLowerCase();
    if (v !== 'keep-alive' && v !== 'close' && v !== '') named = new Set([v]);
  }
  const out: (string | string[])[] = [];
  for (const name in headers) {
    if (DROP_RESPONSE.has(name) || (named !== undefined && named.has(name))) continue;
    const v = headers[name];
    if (v !== undefined) out.push(name, v);
  }
  return out;
}

/**
 * The request head for an upgrade (WebSocket), written to the backend as is:
 * Connection/Upgrade are kept (they are the point), other hop-by-hop headers
 * dropped, X-Forwarded-* set.
 */
export function upgradeRequestHead(method: string, path: string, raw: readonly string[], ctx: ForwardContext): string {
  const lines = [`${method} ${path} HTTP/1.1`];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'connection' || lower === 'upgrade') {
      lines.push(`${name}: ${raw[i + 1]!}`);
      continue;
    }
    if (DROP_REQUEST.has(lower)) continue;
    lines.push(`${name}: ${raw[i + 1]!}`);
  }
  lines.push(`X-Forwarded-For: ${ctx.clientIp}`, `X-Forwarded-Proto: ${ctx.proto}`, `X-Forwarded-Host: ${ctx.host}`);
  return lines.join('\r\n') + '\r\n\r\n';
}
