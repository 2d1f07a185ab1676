import * as http from 'node:http';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { IncomingHttpHeaders } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import type { IngressRoute } from '@volt/sdk';
import { parseClientHello, type ClientHelloResult } from './client-hello';
import { describeErrno } from './errno';
import { ClientConn, RETIRE_IDLE_MS, TICK_MS, UpstreamPool, servernameOf, type FastPathHost, type Plan } from './fast-path';
import type { HeadLimits, RequestHead } from './http1-parser';
import { addForwarded, downstreamResponseHeaders, scanRequestHeaders, upgradeRequestHead, type ForwardContext } from './forward-headers';
import type { CertificatePem, WorkerConfig } from './messages';
import { hostCount, parseHost, splitAbsoluteTarget, withHost } from './request-target';
import { RouteTable, pickUpstream, stripPrefix, type CompiledRoute } from './route-table';
import { startUpgrade, upgradeTokens } from './upgrade';

export interface EngineEvents {
  /** A backend refused or timed out a connection (passive health). */
  backendFailed(key: string, error: string): void;
}

const ACME_PREFIX = '/.well-known/acme-challenge/';
const POOL_CONNECTIONS = 512;
const MAX_CONNECT_TIMEOUT_MS = 10_000;

/** Errors (from undici or the socket layer) that mean "could not reach the backend at all". */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/** The routing table generation a connection handed to Node's http server started under. */
const kGeneration = Symbol('volt.generation');
type Tagged = net.Socket & { [kGeneration]?: number };

/** Where a request goes, or the proxy's own answer. */
type Decision = { r: CompiledRoute; path: string; hostHeader: string } | { status: number; body: string; location?: string };

/**
 * The data plane of one worker: accepts on the shared listeners, routes by
 * Host/SNI and longest path prefix, forwards, tunnels upgrades and TLS
 * passthrough. Plain HTTP/1.1 (on both ports, after TLS termination) takes
 * the fast path (fast-path.ts: own parser, pooled raw upstream sockets);
 * what it does not handle goes to Node's http server, forwarding with
 * undici. All state (table, certificates, challenges, health) is replaced
 * wholesale by the primary; nothing here reads files or parses user input.
 */
export class ProxyEngine implements FastPathHost {
  private table: RouteTable = RouteTable.empty;
  private down: ReadonlySet<string> = new Set();
  private challenges = new Map<string, string>();
  private acmeContexts = new Map<string, tls.SecureContext>();
  private manualContexts = new Map<string, tls.SecureContext>();
  private manualPems = new Map<string, string>();
  private readonly pools = new Map<string, Pool>();
  /** Fast-path upstream pools, by backend key. */
  private readonly fastPools = new Map<string, UpstreamPool>();
  /** Fast-path client connections. */
  private readonly conns = new Set<ClientConn>();
  /** Bumped by every setRoutes: connections from an older table are retired. */
  generation = 0;
  private reloadedAt = 0;
  private retireNodePath = false;
  /** Connections handed to Node's servers, with the requests in flight on each (retirement closes idle old ones only). */
  private readonly nodeSockets = new Map<net.Socket, { busy: number }>();
  /** Coarse clock for the fast path, advanced by the sweep. */
  now = Date.now();
  private readonly sweeper: NodeJS.Timeout;
  readonly headLimits: HeadLimits;
  readonly headerTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** `VOLT_INGRESS_FAST_PATH=0`: every connection goes to Node's http servers (an escape hatch, and the A/B for bench/ingress.sh). */
  private readonly fastPath = process.env.VOLT_INGRESS_FAST_PATH !== '0';
  /** Client connections (both ports), including tunnelled ones. */
  private readonly clients = new Set<net.Socket>();
  /** Upstream halves of tunnels (WebSocket, passthrough). */
  private readonly tunnels = new Set<net.Socket>();
  private inFlight = 0;
  private served = 0;
  stopping = false;
  /** Node's http server for plain connections the fast path hands over. */
  private readonly httpServer: http.Server;
  /** The same for terminated TLS connections (an http.Server over TLS sockets is what https.Server is). */
  private readonly httpsServer: http.Server;
  /** Terminates TLS (certificate by SNI), then hands the connection to the fast path. */
  private readonly tlsServer: tls.Server;

  constructor(
    private readonly config: WorkerConfig,
    private readonly events: EngineEvents,
  ) {
    const l = config.limits;
    const serverOptions: http.ServerOptions = {
      maxHeaderSize: l.maxHeaderBytes,
      requestTimeout: l.requestTimeoutMs,
      headersTimeout: Math.min(l.headerTimeoutMs, l.requestTimeoutMs),
      keepAliveTimeout: l.idleTimeoutMs,
      // How often header/request timeouts are enforced (Node's default, 30 s, would let slowloris sit).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(l.headerTimeoutMs / 2))),
      noDelay: true,
      // Checked in route(), after the header-count limit (a truncated header list may have lost Host).
      requireHostHeader: false,
    };
    this.headLimits = { maxHeaderBytes: l.maxHeaderBytes, maxHeaderCount: l.maxHeaderCount };
    this.headerTimeoutMs = Math.min(l.headerTimeoutMs, l.requestTimeoutMs);
    this.requestTimeoutMs = l.requestTimeoutMs;
    this.idleTimeoutMs = l.idleTimeoutMs;
    this.httpServer = http.createServer(serverOptions, (req, res) => this.onRequest(req, res, false));
    this.httpsServer = http.createServer(serverOptions, (req, res) => this.onRequest(req, res, true));
    this.tlsServer = tls.createServer(
      {
        minVersion: 'TLSv1.2',
        ALPNProtocols: ['http/1.1'],
        handshakeTimeout: l.headerTimeoutMs,
        SNICallback: (servername, cb) => {
          const ctx = this.contextFor(servername);
          if (ctx) cb(null, ctx);
          else cb(new Error(`no certificate for ${servername}`));
        },
      },
      (s: tls.TLSSocket) => this.onSecureConnection(s),
    );
    this.tlsServer.on('tlsClientError', (_e: Error, socket: tls.TLSSocket) => socket.destroy());
    this.sweeper = setInterval(() => this.sweep(), TICK_MS);
    this.sweeper.unref();
    for (const [server, secure] of [
      [this.httpServer, false],
      [this.httpsServer, true],
    ] as const) {
      // One past the limit, so a request over it is seen (and refused) instead of silently truncated.
      server.maxHeadersCount = l.maxHeaderCount + 1;
      server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.onUpgrade(req, socket, head, secure));
      server.on('connect', (_req: http.IncomingMessage, socket: net.Socket) => rawReply(socket, 405, 'CONNECT is not supported: this is not a forward proxy'));
      server.on('clientError', (e: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: net.Socket) => clientError(e, socket));
      // The raw listeners hand connections over; the servers never listen themselves, so start
      // their connection tracking (header/request timeouts) as listening would.
      server.emit('listening');
    }
  }

  setRoutes(routes: IngressRoute[]): void {
    const next = new RouteTable(routes);
    // Manual certificates arrive with their routes; rebuild contexts only when the PEM changed.
    const pems = new Map<string, string>();
    for (const r of routes) if (r.tls === 'manual' && r.certificate && !pems.has(r.hostname)) pems.set(r.hostname, r.certificate.certPem + '\n' + r.certificate.keyPem);
    const contexts = new Map<string, tls.SecureContext>();
    for (const [host, pem] of pems) {
      const old = this.manualContexts.get(host);
      if (old && this.manualPems.get(host) === pem) {
        contexts.set(host, old);
        continue;
      }
      const r = routes.find((x) => x.hostname === host && x.certificate)!;
      try {
        contexts.set(host, secureContext(r.certificate!.certPem, r.certificate!.keyPem));
      } catch (e: unknown) {
        process.stderr.write(`volt ingress worker: certificate for ${host} unusable: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
    this.manualContexts = contexts;
    this.manualPems = pems;
    const previous = this.table;
    this.table = next;
    // Keep-alive connections from now on are retired: the response in flight (or the next one) says
    // `Connection: close`, and connections left idle are closed (ClientConn.sweep).
    this.generation++;
    this.reloadedAt = this.now;
    this.retireNodePath = true;
    // Connections to backends that are no longer routed close once their requests finish.
    const live = new Set(next.routes().flatMap((r) => r.upstreams.map((u) => u.key)));
    for (const r of previous.routes()) {
      for (const u of r.upstreams) {
        if (live.has(u.key)) continue;
        const pool = this.pools.get(u.key);
        if (pool) {
          this.pools.delete(u.key);
          void pool.close().catch(() => undefined);
        }
        const fast = this.fastPools.get(u.key);
        if (fast) {
          this.fastPools.delete(u.key);
          fast.close();
        }
      }
    }
  }

  setCertificates(certs: CertificatePem[]): void {
    const m = new Map<string, tls.SecureContext>();
    for (const c of certs) {
      try {
        m.set(c.hostname, secureContext(c.certPem, c.keyPem));
      } catch (e: unknown) {
        process.stderr.write(`volt ingress worker: certificate for ${c.hostname} unusable: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
    this.acmeContexts = m;
  }

  setChallenges(challenges: Record<string, string>): void {
    this.challenges = new Map(Object.entries(challenges));
  }

  setDown(keys: string[]): void {
    this.down = new Set(keys);
  }

  stats(): { connections: number; requests: number } {
    return { connections: this.clients.size, requests: this.served };
  }

  /**
   * Stop accepting; idle keep-alive connections close now, busy ones after
   * their response (Connection: close); tunnels and stragglers are cut when
   * `drainMs` is over.
   */
  async stop(drainMs: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.sweep();
    this.httpServer.closeIdleConnections();
    this.httpsServer.closeIdleConnections();
    const deadline = Date.now() + drainMs;
    while (Date.now() < deadline && (this.inFlight > 0 || this.tunnels.size > 0)) {
      await new Promise((r) => setTimeout(r, 50));
      this.httpServer.closeIdleConnections();
      this.httpsServer.closeIdleConnections();
    }
    clearInterval(this.sweeper);
    for (const s of [...this.clients, ...this.tunnels]) s.destroy();
    this.httpServer.close(() => undefined);
    this.httpsServer.close(() => undefined);
    this.tlsServer.close(() => undefined);
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => undefined)));
    this.pools.clear();
    for (const p of this.fastPools.values()) p.close();
    this.fastPools.clear();
  }

  // ---- connections -------------------------------------------------------

  /** A client connection the primary accepted on `listener` and handed over (IPC): served as if accepted here. */
  adopt(socket: net.Socket, listener: 'http' | 'https'): void {
    if (listener === 'http') this.onHttpConnection(socket);
    else this.onTlsConnection(socket);
  }

  private admit(s: net.Socket): boolean {
    if (this.stopping || this.clients.size >= this.config.maxConnectionsPerWorker) {
      s.destroy();
      return false;
    }
    this.clients.add(s);
    s.once('close', () => this.clients.delete(s));
    s.on('error', () => undefined);
    return true;
  }

  private onHttpConnection(s: net.Socket): void {
    if (!this.admit(s)) return;
    if (this.fastPath) this.conns.add(new ClientConn(this, s, false));
    else this.fallback(s, false);
  }

  /** A terminated TLS connection: the fast path, like plain HTTP. */
  private onSecureConnection(s: tls.TLSSocket): void {
    s.on('error', () => undefined);
    if (this.fastPath) this.conns.add(new ClientConn(this, s, true));
    else this.fallback(s, true);
  }

  /** Every TICK_MS: the coarse clock, fast-path timeouts and retirement, idle upstream sockets. */
  private sweep(): void {
    const now = Date.now();
    this.now = now;
    for (const c of this.conns) c.sweep(now);
    for (const p of this.fastPools.values()) p.sweep(now);
    if (this.retireNodePath && now - this.reloadedAt > RETIRE_IDLE_MS) {
      // Keep-alive connections Node's servers hold from before the reload: the idle ones close now, the busy
      // ones once their response (which says `Connection: close`) is over. Not closeIdleConnections(): that
      // would also close connections that joined after the reload (a declined upgrade resumed, a new client).
      let left = false;
      for (const [socket, use] of this.nodeSockets) {
        if ((socket as Tagged)[kGeneration] === this.generation) continue;
        if (use.busy === 0) socket.destroy();
        else left = true;
      }
      this.retireNodePath = left;
    }
  }

  // ---- FastPathHost ------------------------------------------------------

  plan(head: RequestHead, secure: boolean, socket: net.Socket): Plan {
    const url = head.target;
    if (!secure && this.challenges.size > 0 && url.startsWith(ACME_PREFIX)) {
      const keyAuth = this.challenges.get(url.slice(ACME_PREFIX.length).split('?')[0]!);
      if (keyAuth !== undefined) return { kind: 'reply', status: 200, body: keyAuth, contentType: 'application/octet-stream' };
    }
    const where = this.decide(url, head.host, secure, secure ? servernameOf(socket) : undefined);
    if ('status' in where) return { kind: 'reply', ...where };
    const { r, path, hostHeader } = where;
    const up = pickUpstream(r, this.down);
    if (up === undefined) {
      const why = r.upstreams.length === 0 ? 'has no address (workload not connected)' : 'is unavailable (failing health checks)';
      return { kind: 'reply', status: 502, body: `backend of route ${r.route.name} ${why}` };
    }
    let pool = this.fastPools.get(up.key);
    if (pool === undefined) {
      pool = new UpstreamPool(up.key, up.address, up.backend.port);
      this.fastPools.set(up.key, pool);
    }
    return { kind: 'forward', route: r.route, key: up.key, pool, path: r.route.stripPath ? stripPrefix(r.route.path, path) : path, hostHeader };
  }

  fallback(socket: net.Socket, secure: boolean): void {
    (socket as Tagged)[kGeneration] = this.generation;
    if (!this.nodeSockets.has(socket)) {
      this.nodeSockets.set(socket, { busy: 0 });
      socket.once('close', () => this.nodeSockets.delete(socket));
    }
    (secure ? this.httpsServer : this.httpServer).emit('connection', socket);
  }

  backendFailed(key: string, why: string): void {
    this.events.backendFailed(key, why);
  }

  requestStarted(): void {
    this.served++;
    this.inFlight++;
  }

  requestFinished(): void {
    this.inFlight--;
  }

  closed(conn: ClientConn): void {
    this.conns.delete(conn);
  }

  /** Peek at the ClientHello: passthrough hosts are tunnelled as they are, the rest is terminated here. */
  private onTlsConnection(s: net.Socket): void {
    if (!this.admit(s)) return;
    let buf: Buffer | undefined;
    const timer = setTimeout(() => s.destroy(), this.config.limits.headerTimeoutMs);
    const onData = (chunk: Buffer): void => {
      buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
      const hello: ClientHelloResult = parseClientHello(buf);
      if (hello.kind === 'incomplete') return;
      clearTimeout(timer);
      s.off('data', onData);
      s.pause();
      const host = hello.kind === 'hello' ? hello.servername : undefined;
      const routes = host === undefined ? undefined : this.table.hostRoutes(host);
      const pass = routes?.[0];
      if (pass !== undefined && pass.route.tls === 'passthrough') {
        this.passthrough(s, buf, pass);
        return;
      }
      // Not ours to tunnel: give the bytes back and let the TLS server read them.
      s.unshift(buf);
      this.tlsServer.emit('connection', s);
    };
    s.on('data', onData);
    s.once('close', () => clearTimeout(timer));
  }

  private passthrough(client: net.Socket, hello: Buffer, r: CompiledRoute): void {
    const up = pickUpstream(r, this.down);
    if (up === undefined) {
      client.destroy();
      return;
    }
    const port = up.backend.port;
    const backend = net.connect({ host: up.address, port, noDelay: true });
    this.tunnels.add(backend);
    backend.setTimeout(Math.min(r.route.timeoutMs, MAX_CONNECT_TIMEOUT_MS), () => {
      this.events.backendFailed(up.key, 'connect timed out');
      backend.destroy();
    });
    backend.once('connect', () => {
      backend.setTimeout(0);
      backend.write(hello);
      client.pipe(backend);
      backend.pipe(client);
      client.resume();
    });
    const close = (): void => {
      client.destroy();
      backend.destroy();
    };
    backend.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== undefined && UNREACHABLE.has(e.code)) this.events.backendFailed(up.key, describeErrno(e));
      close();
    });
    backend.once('close', () => {
      this.tunnels.delete(backend);
      close();
    });
    client.once('close', close);
  }

  // ---- HTTP --------------------------------------------------------------

  private contextFor(host: string): tls.SecureContext | undefined {
    const exact = this.manualContexts.get(host) ?? this.acmeContexts.get(host);
    if (exact) return exact;
    const dot = host.indexOf('.');
    return dot < 0 ? undefined : this.manualContexts.get(`*${host.slice(dot)}`);
  }

  /** Where a request on Node's path goes, or the reply that ends it. Shared by requests and upgrades. */
  private route(req: http.IncomingMessage, secure: boolean, host0: string | undefined): Decision {
    let url = req.url ?? '/';
    let hostHeader = host0;
    if (req.rawHeaders.length > this.config.limits.maxHeaderCount * 2) return { status: 431, body: `more than ${this.config.limits.maxHeaderCount} header fields` };
    // RFC 9112 §3.2: more than one Host is a 400 (the fast path's parser refuses it too).
    if (hostCount(req.rawHeaders) > 1) return { status: 400, body: 'more than one Host header' };
    if (url.charCodeAt(0) !== 47 /* / */) {
      // Absolute form ("GET http://host/path"): the URL's authority replaces Host (RFC 9112 §3.2.2),
      // for routing and upstream. It is routed like any request, so only configured hostnames are ever forwarded.
      const abs = splitAbsoluteTarget(url);
      if ('error' in abs) return { status: 400, body: abs.error };
      hostHeader = abs.authority;
      url = abs.target;
    }
    return this.decide(url, hostHeader, secure, secure ? servernameOf(req.socket) : undefined);
  }

  /**
   * Routing proper, for both paths: `url` in origin form as sent, `hostHeader` as sent (or the
   * absolute-form target's authority). The decision's `path` is the normalised target (request-target.ts),
   * before --strip-path; `hostHeader` is what the backend gets as Host.
   */
  private decide(url: string, hostHeader: string | undefined, secure: boolean, sni: string | undefined): Decision {
    const parsed = parseHost(hostHeader);
    if ('error' in parsed) return { status: 400, body: `missing or invalid Host header: ${parsed.error}` };
    const host = parsed.name;
    if (secure) {
      if (sni !== undefined && sni !== host && this.contextFor(sni) !== this.contextFor(host)) {
        return { status: 421, body: `this connection is for ${sni}, not ${host}` };
      }
    }
    const found = this.table.resolve(host, url);
    if ('error' in found) return { status: 400, body: found.error };
    const { r, path } = found;
    if (r === undefined) return { status: 404, body: `no route for ${host}${path.split('?')[0]}` };
    const tlsMode = r.route.tls;
    if (!secure && tlsMode !== 'none') {
      // ACME challenges stay on plain HTTP (a CA does not follow the redirect to a certificate that does not exist yet).
      if (tlsMode === 'auto' && path.startsWith(ACME_PREFIX)) return { status: 404, body: 'no such ACME challenge' };
      const port = this.config.httpsPort === 443 ? '' : `:${this.config.httpsPort}`;
      const h = host.includes(':') ? `[${host}]` : host;
      return { status: 308, body: 'use https', location: `https://${h}${port}${path}` };
    }
    if (secure && (tlsMode === 'none' || tlsMode === 'passthrough')) return { status: 404, body: `no route for ${host}${path.split('?')[0]}` };
    return { r, path, hostHeader: hostHeader! };
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse, secure: boolean): void {
    this.served++;
    const use = this.nodeSockets.get(req.socket);
    if (use !== undefined) {
      use.busy++;
      res.once('close', () => use.busy--);
    }
    // Stopping, or a connection from before the last reload: this response closes it.
    if (this.stopping || (req.socket as Tagged)[kGeneration] !== this.generation) res.setHeader('connection', 'close');
    const url = req.url ?? '/';
    if (!secure && url.startsWith(ACME_PREFIX) && this.challenges.size > 0) {
      const keyAuth = this.challenges.get(url.slice(ACME_PREFIX.length).split('?')[0]!);
      if (keyAuth !== undefined) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(keyAuth) });
        res.end(keyAuth);
        return;
      }
    }
    // One pass over the headers: what to forward, Host, whether a body follows.
    const scan = scanRequestHeaders(req.rawHeaders);
    // Two Host headers (HTTP/1.0 reaches Node's parser, which lets them through): the client's fault, 400.
    const where: Decision = versionDecision(req) ?? (scan.hostCount > 1 ? { status: 400, body: 'more than one Host header' } : this.route(req, secure, scan.host));
    if ('status' in where) {
      if (where.status === 505) res.setHeader('connection', 'close');
      reply(res, where.status, where.body, where.location);
      req.resume();
      return;
    }
    const { r, path, hostHeader } = where;
    const up = pickUpstream(r, this.down);
    if (up === undefined) {
      const why = r.upstreams.length === 0 ? 'has no address (workload not connected)' : 'is unavailable (failing health checks)';
      reply(res, 502, `backend of route ${r.route.name} ${why}`);
      req.resume();
      return;
    }
    // An absolute-form target's authority replaces the Host the client sent.
    const headers = addForwarded(hostHeader === scan.host ? scan.headers : withHost(scan.headers, hostHeader), { clientIp: req.socket.remoteAddress ?? '', proto: secure ? 'https' : 'http', host: hostHeader });
    const pool = this.pool(up.key, up.address, up.backend.port, r.route.timeoutMs);
    this.inFlight++; // counted out by the handler when the response closes
    try {
      pool.dispatch(
        {
          path: r.route.stripPath ? stripPrefix(r.route.path, path) : path,
          method: req.method ?? 'GET',
          headers,
          body: scan.hasBody ? req : null,
          headersTimeout: r.route.timeoutMs,
          bodyTimeout: r.route.timeoutMs,
        },
        new ForwardHandler(this, res, r.route, up.key, req.httpVersionMinor === 0),
      );
    } catch (e: unknown) {
      reply(res, 502, `cannot forward: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Called by a ForwardHandler when its response is over (sent or abandoned). */
  finished(): void {
    this.inFlight--;
  }

  /** Called by a ForwardHandler when the backend could not be reached. */
  unreachable(key: string, why: string): void {
    this.events.backendFailed(key, why);
  }

  private pool(key: string, address: string, port: number, timeoutMs: number): Pool {
    let p = this.pools.get(key);
    if (p === undefined) {
      const origin = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
      p = new Pool(origin, {
        connections: POOL_CONNECTIONS,
        pipelining: 1,
        connect: { timeout: Math.min(timeoutMs, MAX_CONNECT_TIMEOUT_MS), noDelay: true },
        keepAliveTimeout: 4000,
      });
      this.pools.set(key, p);
    }
    return p;
  }

  /**
   * WebSocket and other upgrades (upgrade.ts): the request goes to the backend on a connection of its own; the
   * sockets are joined only after its 101, and survive reloads then. Any other answer is an ordinary response,
   * after which the client's connection is parsed request by request again.
   */
  private onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer, secure: boolean): void {
    this.served++;
    // No longer a keep-alive connection of Node's server (a tunnel survives reloads); a declined upgrade comes back through fallback().
    this.nodeSockets.delete(socket);
    socket.on('error', () => undefined);
    const scan = scanRequestHeaders(req.rawHeaders);
    const where: Decision = versionDecision(req) ?? (scan.hostCount > 1 ? { status: 400, body: 'more than one Host header' } : this.route(req, secure, req.headers.host));
    if ('status' in where) {
      rawReply(socket, where.status, where.body, where.location);
      return;
    }
    if (req.headers['transfer-encoding'] !== undefined) {
      rawReply(socket, 400, 'a request body with Transfer-Encoding on an Upgrade request is not supported: send Content-Length');
      return;
    }
    const { r, path, hostHeader } = where;
    const up = pickUpstream(r, this.down);
    if (up === undefined) {
      rawReply(socket, 502, `backend of route ${r.route.name} is unavailable`);
      return;
    }
    const target = r.route.stripPath ? stripPrefix(r.route.path, path) : path;
    const ctx: ForwardContext = { clientIp: socket.remoteAddress ?? '', proto: secure ? 'https' : 'http', host: hostHeader };
    const raw = hostHeader === req.headers.host ? req.rawHeaders : withHost(req.rawHeaders, hostHeader);
    const connection = upgradeTokens(req.headers.connection);
    startUpgrade({
      client: socket,
      head,
      requestHead: upgradeRequestHead(req.method ?? 'GET', target, raw, ctx),
      bodyLength: Number(req.headers['content-length'] ?? '0') || 0,
      offered: upgradeTokens(req.headers.upgrade),
      http10: req.httpVersionMinor === 0,
      close: connection.includes('close') || this.stopping || (socket as Tagged)[kGeneration] !== this.generation,
      headRequest: req.method === 'HEAD',
      address: up.address,
      port: up.backend.port,
      routeName: r.route.name,
      timeoutMs: r.route.timeoutMs,
      connectTimeoutMs: Math.min(r.route.timeoutMs, MAX_CONNECT_TIMEOUT_MS),
      tunnels: this.tunnels,
      backendFailed: (why, unreachable) => {
        if (unreachable) this.events.backendFailed(up.key, why);
      },
      reply: (status, body) => rawReply(socket, status, body),
      resumeHttp: (client, rest) => this.resumeHttp(client, secure, rest),
    });
  }

  /** A connection that left Node's parser for an upgrade the backend declined: HTTP again, from `rest` on. */
  private resumeHttp(socket: net.Socket, secure: boolean, rest: Buffer | undefined): void {
    if (socket.destroyed) return;
    if (socket.isPaused()) socket.resume();
    if (rest !== undefined && rest.length > 0) socket.unshift(rest);
    if (this.fastPath) this.conns.add(new ClientConn(this, socket, secure));
    else this.fallback(socket, secure);
  }
}

/**
 * Node's parser refused a request: its own answers (431, 413, 408, 400), except that a version llhttp does
 * not know is 505 when its major is not 1 (`HTTP/3.0`); what is left of the connection is closed.
 */
function clientError(e: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: net.Socket): void {
  if (socket.writable && socket.bytesWritten === 0) {
    let status = 400;
    let body = 'malformed request';
    if (e.code === 'HPE_HEADER_OVERFLOW') [status, body] = [431, 'request head too large'];
    else if (e.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') [status, body] = [413, 'chunk extensions too large'];
    else if (e.code === 'ERR_HTTP_REQUEST_TIMEOUT') [status, body] = [408, 'request not received in time'];
    else if (e.code === 'HPE_INVALID_VERSION') {
      const m = / HTTP\/(\d+)\.(\d+)\r?\n/.exec(e.rawPacket?.toString('latin1') ?? '');
      if (m !== null && m[1] !== '1') [status, body] = [505, `HTTP/${m[1]}.${m[2]} is not supported: send HTTP/1.1`];
      else body = 'malformed HTTP version';
    }
    // Written and ended, then gone (the client need not close its side).
    socket.once('finish', () => socket.destroy());
    rawReply(socket, status, body);
    return;
  }
  socket.destroy();
}

/** HTTP/2 and later (or 0.9) in an HTTP/1 request line: 505 (RFC 9110 §15.6.6); Node's parser lets 2.0 through. */
function versionDecision(req: http.IncomingMessage): Decision | undefined {
  if (req.httpVersionMajor === 1) return undefined;
  return { status: 505, body: `HTTP/${req.httpVersion} is not supported: send HTTP/1.1` };
}

/** Streams one backend response to the client (undici's dispatch handler API). */
class ForwardHandler implements Dispatcher.DispatchHandler {
  private started = false;
  private controller?: Dispatcher.DispatchController;

  constructor(
    private readonly engine: ProxyEngine,
    private readonly res: http.ServerResponse,
    private readonly route: IngressRoute,
    private readonly key: string,
    /** An HTTP/1.0 client: interim (1xx) responses are not for it. */
    private readonly http10: boolean,
  ) {
    // One listener does both: count the request out, and abort upstream if the client went away.
    res.once('close', () => {
      engine.finished();
      const c = this.controller;
      if (c !== undefined && !res.writableFinished && !c.aborted) c.abort(new Error('client closed the connection'));
    });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (this.res.destroyed) return;
    if (statusCode < 200) {
      // 103 Early Hints and the like (undici itself refuses a 100 it did not ask for): passed on to HTTP/1.1 clients.
      if (!this.http10 && statusCode !== 101) writeInterim(this.res, statusCode, statusMessage, headers);
      return;
    }
    this.started = true;
    const h = downstreamResponseHeaders(headers);
    if (statusMessage) this.res.writeHead(statusCode, statusMessage, h);
    else this.res.writeHead(statusCode, h);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    const res = this.res;
    if (this.started || res.headersSent) {
      res.destroy();
      return;
    }
    if (res.destroyed) return;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const name = this.route.name;
    if (code === 'UND_ERR_HEADERS_TIMEOUT') reply(res, 504, `backend of route ${name} did not answer within ${this.route.timeoutMs / 1000} s`);
    else if (code === 'UND_ERR_CONNECT_TIMEOUT') {
      this.engine.unreachable(this.key, 'connect timed out');
      reply(res, 504, `backend of route ${name} did not accept a connection in time`);
    } else if (code === 'UND_ERR_ABORTED' || code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
      reply(res, 400, 'request aborted');
    } else {
      if (UNREACHABLE.has(code)) this.engine.unreachable(this.key, describeErrno(err as NodeJS.ErrnoException));
      // A response that broke HTTP (llhttp's HPE_* errors, a head over the limit): the client's connection closes too.
      if (err.name === 'HTTPParserError' || code.startsWith('HPE_') || code === 'UND_ERR_HEADERS_OVERFLOW' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') res.setHeader('connection', 'close');
      reply(res, 502, `backend of route ${name}: ${describeErrno(err as NodeJS.ErrnoException)}`);
    }
  }
}

/** ServerResponse's own raw write (what writeEarlyHints and writeContinue use): queued in order on a pipelined connection. */
type RawWritable = http.ServerResponse & { _writeRaw(data: string, encoding: BufferEncoding): boolean };

/** An interim response head on the client connection, ahead of the final one. */
function writeInterim(res: http.ServerResponse, status: number, message: string | undefined, headers: IncomingHttpHeaders): void {
  let head = `HTTP/1.1 ${status} ${message ?? http.STATUS_CODES[status] ?? ''}\r\n`;
  const h = downstreamResponseHeaders(headers);
  for (let i = 0; i < h.length; i += 2) {
    const v = h[i + 1]!;
    for (const one of Array.isArray(v) ? v : [v]) head += `${h[i] as string}: ${one}\r\n`;
  }
  (res as RawWritable)._writeRaw(`${head}\r\n`, 'latin1');
}

function secureContext(certPem: string, keyPem: string): tls.SecureContext {
  return tls.createSecureContext({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2' });
}

function reply(res: http.ServerResponse, status: number, body: string, location?: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const text = `${status} ${http.STATUS_CODES[status] ?? ''}: ${body}\n`;
  const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' };
  if (location !== undefined) headers.location = location;
  res.writeHead(status, headers);
  res.end(text);
}

/** A reply on a socket that left HTTP (upgrade/CONNECT), then close it. */
function rawReply(socket: net.Socket, status: number, body: string, location?: string): void {
  if (socket.destroyed) return;
  const text = `${status} ${http.STATUS_CODES[status] ?? ''}: ${body}\n`;
  const loc = location === undefined ? '' : `Location: ${location}\r\n`;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n${loc}Connection: close\r\n\r\n${text}`,
  );
}
