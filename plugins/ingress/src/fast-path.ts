/**
 * The ingress fast path: plain HTTP/1.1 client connections (and terminated
 * TLS ones) are parsed here, one request at a time, and forwarded over
 * pooled keep-alive upstream sockets as bytes — the request head rebuilt
 * (hop-by-hop fields out, X-Forwarded-* in), bodies and response framing
 * passed through as they are. Whatever the strict parser does not take
 * (http1-parser.ts: `fallback`) goes to Node's http server with the
 * connection, before any byte of that request is consumed. Why, and what it
 * gains: docs/decisions/0004-ingress-fast-path.md.
 */
import { describeErrno } from './errno';
import * as net from 'node:net';
import type * as tls from 'node:tls';
import type { IngressRoute } from '@volt/sdk';
import { BodyKind, ChunkedScanner, assemble, parseRequestHead, parseResponseHead, type HeadLimits, type RequestHead } from './http1-parser';

/** What the engine decided for one request. */
export type Plan =
  | { kind: 'reply'; status: number; body: string; location?: string; contentType?: string }
  | { kind: 'forward'; route: IngressRoute; key: string; pool: UpstreamPool; path: string; hostHeader: string };

/** What a fast-path connection needs from the engine. */
export interface FastPathHost {
  readonly headLimits: HeadLimits;
  readonly headerTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Coarse clock (ms), advanced by the engine's sweep. */
  readonly now: number;
  /** Routing table generation: a connection from an older one is retired. */
  readonly generation: number;
  readonly stopping: boolean;
  plan(head: RequestHead, secure: boolean, socket: net.Socket): Plan;
  /** The request is not ours: give the connection (bytes put back) to Node's http server. */
  fallback(socket: net.Socket, secure: boolean): void;
  backendFailed(key: string, why: string): void;
  /** A request started (counted in stats and in flight) / is over. */
  requestStarted(): void;
  requestFinished(): void;
  closed(conn: ClientConn): void;
}

/** Errors that mean "could not reach the backend at all". */
export const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ETIMEDOUT']);

/** How far the coarse clock may lag: every deadline gets this much slack so none fires early. */
export const TICK_MS = 250;
/** An idle keep-alive connection of an older table is closed once idle this long (its next request, sooner, gets `Connection: close`). */
export const RETIRE_IDLE_MS = 1000;
const MAX_CONNECT_TIMEOUT_MS = 10_000;
/** Upstream keep-alive: our own limit, below Node's default 5 s server timeout. */
const UPSTREAM_IDLE_MS = 4000;
const MAX_IDLE_PER_BACKEND = 256;
/** Pipelined bytes buffered while a request is in flight before the client is paused. */
const MAX_BUFFERED = 64 * 1024;
/** A connection we ended is destroyed if the client does not close it within this. */
const LINGER_MS = 5000;
/** Failures of a reused upstream connection that may be the backend closing it as we sent. */
const RETRIABLE = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
/** Methods not retried on a fresh connection when a reused one fails (nginx's list). */
const NON_IDEMPOTENT = new Set(['POST', 'PATCH', 'LOCK']);

const enum S {
  /** Waiting for (the rest of) a request head. */
  Head,
  /** A request is in flight (body being forwarded and/or response coming back). */
  Busy,
  /** We ended the connection; waiting for the client to close. */
  Closing,
  /** Handed to Node, or closed. */
  Gone,
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  421: 'Misdirected Request',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/** A complete short response of the proxy's own ("404 Not Found: no route for …"). */
export function replyBytes(status: number, body: string, close: boolean, location?: string, contentType?: string): Buffer {
  const reason = STATUS_TEXT[status] ?? '';
  const text = contentType === undefined ? `${status} ${reason}: ${body}\n` : body;
  const len = Buffer.byteLength(text);
  const loc = location === undefined ? '' : `location: ${location}\r\n`;
  return Buffer.from(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: ${contentType ?? 'text/plain; charset=utf-8'}\r\ncontent-length: ${len}\r\ncache-control: no-store\r\n${loc}${close ? 'connection: close\r\n' : ''}\r\n${text}`,
  );
}

const TIMEOUT_408 = Buffer.from('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');

/** Keep-alive upstream sockets of one backend address. */
export class UpstreamPool {
  private readonly idle: Upstream[] = [];
  private closed = false;

  constructor(
    readonly key: string,
    readonly address: string,
    readonly port: number,
  ) {}

  acquire(): Upstream {
    for (;;) {
      const u = this.idle.pop();
      if (u === undefined) break;
      if (!u.sock.destroyed && u.sock.readyState === 'open') return u;
      u.sock.destroy();
    }
    return new Upstream(this);
  }

  release(u: Upstream, now: number): void {
    if (this.closed || this.idle.length >= MAX_IDLE_PER_BACKEND || u.sock.destroyed) {
      u.sock.destroy();
      return;
    }
    u.idleSince = now;
    this.idle.push(u);
  }

  forget(u: Upstream): void {
    const i = this.idle.indexOf(u);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** Close idle sockets past their keep-alive. */
  sweep(now: number): void {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const u = this.idle[i]!;
      if (now - u.idleSince >= u.keepAliveMs) {
        this.idle.splice(i, 1);
        u.sock.destroy();
      }
    }
  }

  /** No longer routed: idle sockets go now, busy ones when their response is over. */
  close(): void {
    this.closed = true;
    for (const u of this.idle.splice(0)) u.sock.destroy();
  }
}

/**
 * Upstream sockets read into this one buffer (`onread`: no Readable stream,
 * no allocation per read). Its bytes are only valid during the callback:
 * whatever outlives it is copied (a partial head, body bytes written alone).
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const USE_ONREAD = process.env.VOLT_INGRESS_ONREAD !== '0';

/** One upstream connection; parses the responses that come back on it. */
export class Upstream {
  readonly sock: net.Socket;
  owner: ClientConn | undefined;
  connected = false;
  /** Has carried a complete exchange before (a failure before any response byte may be a keep-alive race). */
  reused = false;
  idleSince = 0;
  keepAliveMs = UPSTREAM_IDLE_MS;
  /** Response state. */
  pending: Buffer | undefined;
  gotBytes = false;
  headDone = false;
  body: BodyKind = BodyKind.None;
  remaining = 0;
  reusable = false;
  readonly chunked = new ChunkedScanner();

  constructor(readonly pool: UpstreamPool) {
    const s = USE_ONREAD
      ? net.connect({
          host: pool.address,
          port: pool.port,
          noDelay: true,
          onread: {
            buffer: READ_BUFFER,
            callback: (n: number, buf: Uint8Array): boolean => {
              this.onData(Buffer.from(buf.buffer, buf.byteOffset, n), true);
              return true;
            },
          },
        })
      : net.connect({ host: pool.address, port: pool.port, noDelay: true });
    this.sock = s;
    s.once('connect', () => {
      this.connected = true;
    });
    if (!USE_ONREAD) s.on('data', (d: Buffer) => this.onData(d, false));
    s.on('drain', () => this.owner?.upstreamDrained());
    s.on('end', () => this.onEnd());
    s.on('error', (e: NodeJS.ErrnoException) => this.fail(e.code ?? 'ERROR', describeErrno(e)));
    s.once('close', () => {
      this.pool.forget(this);
      this.fail('UND_ERR_SOCKET', 'the backend closed the connection');
    });
  }

  /** Starts a new exchange on this socket. */
  begin(owner: ClientConn): void {
    this.owner = owner;
    this.pending = undefined;
    this.gotBytes = false;
    this.headDone = false;
    this.remaining = 0;
    this.reusable = false;
  }

  /** `shared`: `d` is READ_BUFFER, valid during this call only. */
  private onData(d: Buffer, shared: boolean): void {
    const o = this.owner;
    if (o === undefined) {
      // Bytes from a backend nobody asked anything: its framing cannot be trusted any more.
      this.sock.destroy();
      return;
    }
    this.gotBytes = true;
    o.upstreamActive();
    if (this.headDone) {
      this.forwardBody(o, d, 0, shared);
      return;
    }
    let buf = d;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, d]);
      this.pending = undefined;
      shared = false;
    }
    let start = 0;
    for (;;) {
      const r = parseResponseHead(buf, start, buf.length, o.headRequest);
      if (r.kind === 'incomplete') {
        this.pending = shared ? Buffer.from(buf.subarray(start)) : start === 0 ? buf : buf.subarray(start);
        return;
      }
      if (r.kind === 'invalid') {
        this.fail('UND_ERR_INVALID', `invalid response (${r.reason})`);
        return;
      }
      if (r.kind === 'interim') {
        // 100 Continue, 103 Early Hints…: passed on (RFC 9110 §15.2; fast-path clients are HTTP/1.1), the final response follows.
        o.responseInterim(buf, r.forward);
        start = r.headEnd;
        if (start >= buf.length) return;
        continue;
      }
      if (r.kind === 'switch') {
        // Upgrades never take the fast path: a 101 here was not asked for (parseResponseHead refuses it unless told).
        this.fail('UND_ERR_INVALID', 'invalid response (101 Switching Protocols to a request that did not ask for it)');
        return;
      }
      this.headDone = true;
      this.body = r.body;
      this.remaining = r.length;
      this.reusable = r.reusable;
      if (r.keepAliveMs > 0) this.keepAliveMs = Math.max(0, Math.min(UPSTREAM_IDLE_MS, r.keepAliveMs - 1000));
      if (r.body === BodyKind.Chunked) this.chunked.reset();
      o.responseHead(buf, r.forward, r.body === BodyKind.Close);
      this.forwardBody(o, buf, r.headEnd, shared);
      return;
    }
  }

  /** Body bytes from `buf[start..]` to the client, up to the end of the message. */
  private forwardBody(o: ClientConn, buf: Buffer, start: number, shared: boolean): void {
    const len = buf.length;
    let end: number;
    switch (this.body) {
      case BodyKind.None:
        end = start;
        break;
      case BodyKind.Length:
        end = Math.min(len, start + this.remaining);
        this.remaining -= end - start;
        break;
      case BodyKind.Chunked: {
        const e = this.chunked.feed(buf, start, len);
        if (e === -2) {
          this.fail('UND_ERR_INVALID', 'invalid chunked body');
          return;
        }
        end = e === -1 ? len : e;
        break;
      }
      default:
        end = len;
    }
    if (end > start) o.responseBody(buf, start, end, shared);
    else o.flushHead();
    if (this.owner !== o) return;
    const complete = this.body === BodyKind.None || (this.body === BodyKind.Length && this.remaining === 0) || (this.body === BodyKind.Chunked && this.chunked.done);
    if (!complete) return;
    // Bytes past the end of the response: the backend is out of step; never reuse it.
    if (end < len) this.reusable = false;
    this.owner = undefined;
    o.responseComplete(this);
  }

  private onEnd(): void {
    const o = this.owner;
    if (o !== undefined && this.headDone && this.body === BodyKind.Close) {
      this.owner = undefined;
      o.responseComplete(this);
      return;
    }
    this.fail('UND_ERR_SOCKET', 'the backend closed the connection');
  }

  fail(code: string, why: string): void {
    const o = this.owner;
    this.owner = undefined;
    this.pool.forget(this);
    this.sock.destroy();
    o?.upstreamFailed(this, code, why);
  }
}

/** One client connection on the fast path. */
export class ClientConn {
  private state = S.Head;
  /** Unconsumed input (the start of the next request). */
  private buf: Buffer | undefined;
  /** Between requests with nothing of the next one yet. */
  private idle = false;
  /** When the current phase began (coarse clock): head, idle, closing. */
  private since: number;
  private closeAfter = false;
  private readonly generation: number;
  private readonly clientIp: string;
  private readonly proto: 'http' | 'https';
  private clientEnded = false;
  private pausedForBuffer = false;
  /** Inside next(): a request answered synchronously returns to its loop instead of recursing. */
  private looping = false;

  // The exchange in flight (one at a time).
  private up: Upstream | undefined;
  private plan: Extract<Plan, { kind: 'forward' }> | undefined;
  private method = '';
  headRequest = false;
  private bodyLeft = 0;
  /** The request as sent upstream, kept while a retry on a fresh connection may need it. */
  private requestHead: Buffer | undefined;
  private requestComplete = false;
  private responseStarted = false;
  private responseDone = false;
  private pendingHead: Buffer | undefined;
  private startedAt = 0;
  /** Last upstream progress (dispatch, request fully sent, response bytes). */
  private lastUpstream = 0;
  private waitingClientDrain = false;
  private retried = false;

  private readonly onData = (d: Buffer): void => this.data(d);
  private readonly onEnd = (): void => this.ended();
  private readonly onDrain = (): void => this.clientDrained();
  private readonly onClose = (): void => this.closedNow();

  constructor(
    private readonly host: FastPathHost,
    readonly sock: net.Socket,
    private readonly secure: boolean,
  ) {
    this.since = host.now;
    this.generation = host.generation;
    this.clientIp = sock.remoteAddress ?? '';
    this.proto = secure ? 'https' : 'http';
    // A client that half-closes after its request still gets the response.
    sock.allowHalfOpen = true;
    sock.on('data', this.onData);
    sock.on('end', this.onEnd);
    sock.on('drain', this.onDrain);
    sock.once('close', this.onClose);
    sock.on('error', () => undefined);
  }

  /** Between requests, nothing of the next one buffered. */
  get isIdle(): boolean {
    return this.state === S.Head && this.idle && this.buf === undefined;
  }

  // ---- client side ---------------------------------------------------------

  private data(d: Buffer): void {
    if (this.state === S.Busy && this.bodyLeft > 0) {
      const n = Math.min(this.bodyLeft, d.length);
      this.bodyLeft -= n;
      const up = this.up;
      if (up !== undefined && !up.sock.write(n === d.length ? d : d.subarray(0, n))) this.sock.pause();
      if (this.bodyLeft === 0) this.requestSent();
      if (n === d.length) return;
      d = d.subarray(n);
    }
    if (this.state === S.Closing || this.state === S.Gone) return;
    this.buf = this.buf === undefined ? d : Buffer.concat([this.buf, d]);
    if (this.state === S.Head) this.next();
    else if (this.buf.length > MAX_BUFFERED && !this.pausedForBuffer) {
      this.pausedForBuffer = true;
      this.sock.pause();
    }
  }

  /** Parse and start buffered requests until one goes upstream or input runs out. */
  private next(): void {
    if (this.looping) return;
    this.looping = true;
    try {
      while (this.state === S.Head) {
        const buf = this.buf;
        if (buf === undefined) {
          if (!this.idle) {
            this.idle = true;
            this.since = this.host.now;
          }
          if (this.clientEnded) this.end();
          return;
        }
        if (this.idle) {
          this.idle = false;
          this.since = this.host.now;
        }
        const r = parseRequestHead(buf, 0, buf.length, this.host.headLimits);
        switch (r.kind) {
          case 'incomplete':
            if (this.clientEnded) this.end();
            return;
          case 'fallback':
            // HTTP/1.2…1.9 is 1.1 (RFC 9110 §2.5); Node's parser would refuse the digit.
            if (r.minorAt !== undefined) buf[r.minorAt] = 49;
            this.handOver();
            return;
          case 'invalid':
            this.host.requestStarted();
            this.host.requestFinished();
            this.closeWith(replyBytes(r.status ?? 400, r.reason, true));
            return;
          case 'request':
            this.start(buf, r);
        }
      }
    } finally {
      this.looping = false;
    }
  }

  private start(buf: Buffer, head: RequestHead): void {
    const host = this.host;
    host.requestStarted();
    this.state = S.Busy;
    this.startedAt = host.now;
    this.responseStarted = false;
    this.responseDone = false;
    this.retried = false;
    if (head.close || host.stopping || this.generation !== host.generation || this.clientEnded) this.closeAfter = true;
    const headEnd = head.headEnd;
    const avail = Math.min(buf.length - headEnd, head.contentLength);
    const rest = headEnd + avail;
    this.buf = rest < buf.length ? buf.subarray(rest) : undefined;
    this.bodyLeft = head.contentLength - avail;

    let plan: Plan;
    try {
      plan = host.plan(head, this.secure, this.sock);
    } catch (e: unknown) {
      // A bug must not take the worker (and every connection on it) down.
      plan = { kind: 'reply', status: 502, body: `cannot forward: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (plan.kind === 'reply') {
      // The request's body (if any) is not read: close after the reply rather than skip it.
      if (this.bodyLeft > 0) this.closeAfter = true;
      this.bodyLeft = 0;
      this.sock.write(replyBytes(plan.status, plan.body, this.closeAfter, plan.location, plan.contentType));
      this.finish();
      return;
    }
    this.plan = plan;
    this.method = head.method;
    this.headRequest = head.method === 'HEAD';
    const extra = `x-forwarded-for: ${this.clientIp}\r\nx-forwarded-proto: ${this.proto}\r\nx-forwarded-host: ${plan.hostHeader}\r\n\r\n`;
    this.requestHead = assemble(`${head.method} ${plan.path} HTTP/1.1\r\n`, buf, head.forward, 0, extra, buf, headEnd, rest);
    this.requestComplete = this.bodyLeft === 0;
    this.dispatch(plan.pool.acquire());
  }

  private dispatch(up: Upstream): void {
    this.up = up;
    up.begin(this);
    this.lastUpstream = this.host.now;
    const head = this.requestHead!;
    // A request whose body is still coming cannot be sent again: keep nothing.
    if (!this.requestComplete) this.requestHead = undefined;
    up.sock.write(head);
  }

  /** The last byte of the request body went upstream. */
  private requestSent(): void {
    this.lastUpstream = this.host.now;
    if (this.responseDone) this.finish();
  }

  // ---- upstream side (called by Upstream) -------------------------------------

  upstreamActive(): void {
    this.lastUpstream = this.host.now;
  }

  /** The response head (ranges of `buf`), held back to go out with the first body bytes. */
  responseHead(buf: Buffer, forward: number[], closeDelimited: boolean): void {
    const host = this.host;
    if (closeDelimited || host.stopping || this.generation !== host.generation) this.closeAfter = true;
    this.responseStarted = true;
    this.requestHead = undefined;
    this.pendingHead = assemble('HTTP/1.1 ', buf, forward, 0, this.closeAfter ? 'connection: close\r\n\r\n' : '\r\n');
  }

  /** An interim (1xx) response head: to the client at once, before the final one. */
  responseInterim(buf: Buffer, forward: number[]): void {
    this.write(assemble('HTTP/1.1 ', buf, forward, 0, '\r\n'));
  }

  flushHead(): void {
    const head = this.pendingHead;
    if (head !== undefined) {
      this.pendingHead = undefined;
      this.write(head);
    }
  }

  responseBody(buf: Buffer, start: number, end: number, shared: boolean): void {
    let out: Buffer;
    const head = this.pendingHead;
    if (head !== undefined) {
      // Head and the body bytes that came with it: one write.
      this.pendingHead = undefined;
      out = Buffer.allocUnsafe(head.length + (end - start));
      head.copy(out, 0);
      buf.copy(out, head.length, start, end);
    } else if (shared) out = Buffer.from(buf.subarray(start, end));
    else out = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
    this.write(out);
  }

  private write(out: Buffer): void {
    if (this.sock.destroyed) return;
    if (!this.sock.write(out) && this.up !== undefined && !this.waitingClientDrain) {
      this.waitingClientDrain = true;
      this.up.sock.pause();
    }
  }

  responseComplete(up: Upstream): void {
    this.flushHead();
    this.responseDone = true;
    if (this.waitingClientDrain) {
      this.waitingClientDrain = false;
      up.sock.resume();
    }
    this.up = undefined;
    up.reused = true;
    // The request body is not all sent: neither connection can go on (the next request would start mid-body).
    if (this.bodyLeft > 0) {
      this.closeAfter = true;
      this.bodyLeft = 0;
      up.sock.destroy();
    } else if (up.reusable) up.pool.release(up, this.host.now);
    else up.sock.destroy();
    this.finish();
  }

  upstreamFailed(up: Upstream, code: string, why: string): void {
    if (this.up !== up || this.state !== S.Busy) return;
    this.up = undefined;
    const plan = this.plan!;
    if (this.responseStarted) {
      // Mid-response: nothing sensible can be said to the client any more.
      this.pendingHead = undefined;
      this.sock.destroy();
      return;
    }
    // A reused keep-alive connection the backend closed as the request went out: once more on a fresh one, when safe.
    if (RETRIABLE.has(code) && up.reused && !up.gotBytes && !this.retried && this.requestHead !== undefined && !NON_IDEMPOTENT.has(this.method)) {
      this.retried = true;
      this.dispatch(plan.pool.acquire());
      return;
    }
    const name = plan.route.name;
    let status = 502;
    let text: string;
    if (code === 'UND_ERR_CONNECT_TIMEOUT') {
      this.host.backendFailed(plan.key, 'connect timed out');
      status = 504;
      text = `backend of route ${name} did not accept a connection in time`;
    } else if (code === 'UND_ERR_HEADERS_TIMEOUT') {
      status = 504;
      text = `backend of route ${name} did not answer within ${plan.route.timeoutMs / 1000} s`;
    } else {
      if (UNREACHABLE.has(code)) this.host.backendFailed(plan.key, why);
      text = `backend of route ${name}: ${why}`;
    }
    // A backend that broke HTTP (bad status line, both framings, differing lengths, a huge head): the client's
    // connection closes too, so nothing it sends next depends on how the broken response was read.
    if (this.bodyLeft > 0 || code === 'UND_ERR_INVALID') this.closeAfter = true;
    this.bodyLeft = 0;
    this.requestHead = undefined;
    this.sock.write(replyBytes(status, text, this.closeAfter));
    this.finish();
  }

  upstreamDrained(): void {
    if (this.state === S.Busy && this.bodyLeft > 0) this.sock.resume();
  }

  private clientDrained(): void {
    if (this.waitingClientDrain) {
      this.waitingClientDrain = false;
      this.up?.sock.resume();
    }
  }

  // ---- end of an exchange --------------------------------------------------------

  /** The response is over; the request too once its body is all read. */
  private finish(): void {
    if (this.state !== S.Busy || this.bodyLeft > 0) return;
    this.host.requestFinished();
    this.plan = undefined;
    this.requestHead = undefined;
    this.state = S.Head;
    this.idle = false;
    if (this.closeAfter) {
      this.end();
      return;
    }
    if (this.pausedForBuffer) {
      this.pausedForBuffer = false;
      this.sock.resume();
    }
    this.next();
  }

  /** Drop the exchange in flight (no response will complete it). */
  private abandon(): void {
    const up = this.up;
    this.up = undefined;
    if (up !== undefined) {
      up.owner = undefined;
      up.sock.destroy();
    }
    this.plan = undefined;
    this.requestHead = undefined;
    this.pendingHead = undefined;
    this.bodyLeft = 0;
    if (this.state === S.Busy) {
      this.state = S.Head;
      this.host.requestFinished();
    }
  }

  /** Close gracefully (FIN after what is written). */
  private end(): void {
    if (this.state === S.Closing || this.state === S.Gone) return;
    this.state = S.Closing;
    this.since = this.host.now;
    this.buf = undefined;
    this.sock.end();
  }

  private closeWith(bytes: Buffer): void {
    this.sock.write(bytes);
    this.end();
  }

  private ended(): void {
    this.clientEnded = true;
    if (this.state === S.Head) this.next();
    else if (this.state === S.Busy) this.closeAfter = true;
  }

  private closedNow(): void {
    this.abandon();
    this.state = S.Gone;
    this.detach();
    this.host.closed(this);
  }

  private detach(): void {
    const s = this.sock;
    s.off('data', this.onData);
    s.off('end', this.onEnd);
    s.off('drain', this.onDrain);
    s.off('close', this.onClose);
  }

  /** Node's http server takes the connection from this request on (nothing of it consumed). */
  private handOver(): void {
    this.state = S.Gone;
    this.detach();
    this.host.closed(this);
    const s = this.sock;
    const buf = this.buf;
    this.buf = undefined;
    // Flowing, so the bytes put back reach Node's parser before anything read after them.
    if (s.isPaused()) s.resume();
    if (buf !== undefined) s.unshift(buf);
    this.host.fallback(s, this.secure);
  }

  /** Called by the engine's sweep: timeouts, retirement after a reload, drain on stop. */
  sweep(now: number): void {
    const host = this.host;
    switch (this.state) {
      case S.Head:
        if (this.idle) {
          const idleFor = now - this.since;
          if (host.stopping || idleFor > host.idleTimeoutMs + TICK_MS || (this.generation !== host.generation && idleFor > RETIRE_IDLE_MS)) this.end();
        } else if (now - this.since > host.headerTimeoutMs + TICK_MS) {
          this.closeWith(TIMEOUT_408);
        }
        return;
      case S.Busy: {
        if (this.bodyLeft > 0) {
          // The client is too slow sending its body.
          if (now - this.startedAt > host.requestTimeoutMs + TICK_MS) {
            const started = this.responseStarted;
            this.abandon();
            if (started) this.sock.destroy();
            else this.closeWith(TIMEOUT_408);
          }
          return;
        }
        const plan = this.plan;
        const up = this.up;
        if (plan === undefined || up === undefined || this.waitingClientDrain) return;
        const idleFor = now - this.lastUpstream;
        if (!up.connected) {
          if (idleFor > Math.min(plan.route.timeoutMs, MAX_CONNECT_TIMEOUT_MS) + TICK_MS) up.fail('UND_ERR_CONNECT_TIMEOUT', 'connect timed out');
        } else if (idleFor > plan.route.timeoutMs + TICK_MS) {
          up.fail(this.responseStarted ? 'UND_ERR_BODY_TIMEOUT' : 'UND_ERR_HEADERS_TIMEOUT', 'timed out');
        }
        return;
      }
      case S.Closing:
        if (now - this.since > LINGER_MS) this.sock.destroy();
        return;
      default:
    }
  }
}


/** The SNI of a terminated TLS connection. */
export function servernameOf(socket: net.Socket): string | undefined {
  const n = (socket as tls.TLSSocket).servername;
  return typeof n === 'string' ? n : undefined;
}
