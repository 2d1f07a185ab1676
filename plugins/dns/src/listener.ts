import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { DnsListener, DnsView } from '@volt/sdk';
import { DriverError } from '@volt/sdk';
import type { ReaderPool } from './reader-pool';
import { RECV_TIMEOUT_MS, type UdpMode } from './udp-mode';
import { ipv4ToInt } from './zone';

/** Answer now (a Buffer), later (a Promise), or not at all (undefined). `peer` is the UDP client. */
export type QueryHandler = (network: string, msg: Buffer, tcp: boolean, peer?: dgram.RemoteInfo) => Buffer | Promise<Buffer> | undefined;

/** RFC 7766 asks servers to close idle TCP connections; seconds, not minutes. Only complete queries count as activity. */
const TCP_IDLE_MS = 10_000;
const TCP_MAX_CONNECTIONS = 256;
/**
 * Connections one client address may hold at once: one client cannot take
 * all TCP_MAX_CONNECTIONS slots and lock every other client out of TCP (and
 * out of the TCP retry after a truncated UDP answer).
 */
const TCP_MAX_PER_CLIENT = 16;
/**
 * A query must be complete (length prefix and message) this long after its
 * first byte, however it trickles: a byte now and then does not keep a
 * connection alive. VOLT_DNS_TCP_QUERY_MS overrides it (tests).
 */
const TCP_QUERY_MS = 5_000;
/** Answers a client does not read: past this many bytes queued for it, it is hung up on. */
const TCP_MAX_UNREAD = 1 << 20;
/** Queries one TCP connection may have unanswered at once (pipelining, RFC 7766 §6.2.1.1). */
const TCP_MAX_PENDING = 64;
/** A larger receive buffer rides out bursts; the kernel caps it at net.core.rmem_max. */
const UDP_RECV_BUFFER = 4 * 1024 * 1024;
/** Socket errors a dgram socket would hit the same way: reported, not a reason to fall back. */
const BIND_ERRORS: ReadonlySet<string> = new Set(['EADDRINUSE', 'EADDRNOTAVAIL', 'EACCES']);

/** What a listener in batch mode needs from the engine: the reading threads every listener shares (reader-pool.ts). */
export interface BatchHooks {
  mode: Extract<UdpMode, { kind: 'batch' }>;
  pool: ReaderPool;
}

/** The batched UDP side of a listener: the socket (owned here), read by the pool's threads. */
interface BatchUdp {
  fd: number;
  /** Settles when a reading thread reads the socket (undefined) or when none will (why not). */
  started: Promise<string | undefined>;
}

/**
 * One network's gateway: a UDP socket and a TCP server bound to that address
 * only (never the wildcard), answering only clients from the network's
 * subnet. Everything else is dropped without a reply: an open resolver or a
 * reflector is worse than a silent one.
 */
export class Listener {
  private udp?: dgram.Socket;
  private batchUdp?: BatchUdp;
  private tcp?: net.Server;
  private readonly conns = new Set<net.Socket>();
  /** Open TCP connections per client address. */
  private readonly perClient = new Map<string, number>();
  private readonly queryMs = tcpQueryMs(process.env);
  private readonly net: number;
  private readonly mask: number;
  /** A listener on a v6 gateway: its clients' prefix (checked with node's BlockList, then remembered). */
  private readonly prefix6?: net.BlockList;
  private readonly allowed6 = new Set<string>();
  private closing = false;
  /** The last client that passed the subnet check: a busy client skips the parse. */
  private lastAllowed = '';

  constructor(
    readonly spec: DnsListener,
    private readonly handler: QueryHandler,
    private readonly warn: (m: string) => void,
    private readonly batch?: BatchHooks,
  ) {
    const [addr, prefix] = spec.subnet.split('/');
    this.mask = Number(prefix) === 0 ? 0 : (0xffffffff << (32 - Number(prefix))) >>> 0;
    this.net = (ipv4ToInt(addr ?? '') & this.mask) >>> 0;
    if (this.v6) {
      this.prefix6 = new net.BlockList();
      // A prefix that does not parse admits nobody (core hands over canonical prefixes).
      try {
        this.prefix6.addSubnet(addr ?? '', Number(prefix), 'ipv6');
      } catch {
        /* nobody */
      }
    }
  }

  /** A listener on a v6 gateway (dual-stack networks have one beside the v4 one). */
  get v6(): boolean {
    return net.isIPv6(this.spec.address);
  }

  get key(): string {
    return listenerKey(this.spec);
  }

  /** How this listener reads UDP: 'batch' (recvmmsg in reading threads) or 'dgram'. */
  get udpMode(): 'batch' | 'dgram' {
    return this.batchUdp !== undefined ? 'batch' : 'dgram';
  }

  /**
   * Bind UDP and TCP. In batch mode the socket is bound (queries queue in its
   * receive buffer from here on) and handed to the reading threads; the
   * listener is open once the first thread runs, which started with the
   * service (the first listener waits for it, the others do not: a running
   * thread takes a new socket at its next wake-up, at once). No round trip
   * per socket, so a service with many networks binds them one after the
   * other while its thread starts (docs/decisions/0012). Should no thread
   * read it, the listener moves to node:dgram.
   */
  async open(): Promise<void> {
    // The native batch socket is IPv4 (sockaddr_in slots): a v6 gateway is read with node:dgram.
    if (this.batch !== undefined && !this.v6) {
      const opened = this.openBatch(this.batch);
      if (opened !== undefined) {
        this.batchUdp = opened;
        try {
          await this.openTcp();
        } catch (e: unknown) {
          await this.closeBatch();
          throw e;
        }
        // "Listening" means answering: wait for a reading thread to run (once for the service).
        const none = await this.batch.pool.start();
        if (none !== undefined) return this.threadsFailed(opened, none);
        // A thread runs; should none take this socket after all (every thread gone at that moment), dgram.
        void opened.started.then((failed) => this.threadsFailed(opened, failed));
        return;
      }
    }
    await this.openDgram();
  }

  /** No reading thread will read this listener's socket: answer with node:dgram instead. */
  private async threadsFailed(opened: BatchUdp, failed: string | undefined): Promise<void> {
    if (failed === undefined || this.closing || this.batchUdp !== opened) return;
    const { address, port, network } = this.spec;
    this.warn(`${hostPort(address, port)}/udp (network ${network}): batched UDP unavailable: ${failed}; using node:dgram`);
    await this.closeBatch();
    if (this.closing) return;
    try {
      await this.openDgramUdp();
    } catch (e: unknown) {
      this.warn(`${hostPort(address, port)}/udp (network ${network}): ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** The native socket, handed to the reading threads; undefined (and a warning) when the native call fails in a way dgram would not. */
  private openBatch(hooks: BatchHooks): BatchUdp | undefined {
    const { native } = hooks.mode;
    const { address, port } = this.spec;
    let fd: number;
    try {
      fd = native.openUdpSocket({ address, port, recvBufferBytes: UDP_RECV_BUFFER, recvTimeoutMs: RECV_TIMEOUT_MS });
    } catch (e: unknown) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== undefined && BIND_ERRORS.has(code)) throw this.listenError(e, 'udp');
      this.warn(`${hostPort(address, port)}/udp (network ${this.spec.network}): batched UDP unavailable (${e instanceof Error ? e.message : String(e)}); using node:dgram`);
      return undefined;
    }
    return { fd, started: hooks.pool.add({ fd, spec: { ...this.spec } }) };
  }

  /** The native socket the reading threads read (batch mode), to route their relayed queries back here. */
  get batchFd(): number | undefined {
    return this.batchUdp?.fd;
  }

  /** Queries the reading threads have read on this listener's socket (the dgram path counts in the engine's answerer). */
  get threadQueries(): number {
    const b = this.batchUdp;
    return b === undefined || this.batch === undefined ? 0 : this.batch.pool.queries(b.fd);
  }

  private async closeBatch(): Promise<void> {
    const b = this.batchUdp;
    const hooks = this.batch;
    if (b === undefined || hooks === undefined) return;
    this.batchUdp = undefined;
    const native = hooks.mode.native;
    // shutdown(SHUT_RD) wakes a thread blocked in poll on this fd at once.
    await hooks.pool.remove(b.fd, () => native.shutdownUdpSocket(b.fd));
    // Only now: no thread is in a call on this fd, so the number cannot be reused under one.
    native.closeUdpSocket(b.fd);
  }

  private async openDgram(): Promise<void> {
    const udp = await this.openDgramUdp();
    try {
      await this.openTcp();
    } catch (e: unknown) {
      this.udp = undefined;
      udp.close();
      throw e;
    }
  }

  private async openDgramUdp(): Promise<dgram.Socket> {
    const { address, port } = this.spec;
    const udp = dgram.createSocket({ type: this.v6 ? 'udp6' : 'udp4', lookup: this.v6 ? literalLookup6 : literalLookup });
    udp.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => this.onDatagram(udp, msg, rinfo));
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address, port, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
    } catch (e: unknown) {
      udp.close();
      throw this.listenError(e, 'udp');
    }
    udp.on('error', (e: Error) => this.warn(`${hostPort(address, port)}/udp (network ${this.spec.network}): ${e.message}`));
    try {
      udp.setRecvBufferSize(UDP_RECV_BUFFER);
    } catch {
      /* the default buffer still works, it only drops more under bursts */
    }
    this.udp = udp;
    return udp;
  }

  private async openTcp(): Promise<void> {
    const { address, port } = this.spec;
    const tcp = net.createServer({ noDelay: true }, (s) => this.onConnection(s));
    tcp.maxConnections = TCP_MAX_CONNECTIONS;
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: address, port, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (e: unknown) {
      tcp.close();
      throw this.listenError(e, 'tcp');
    }
    tcp.on('error', (e: Error) => this.warn(`${hostPort(address, port)}/tcp (network ${this.spec.network}): ${e.message}`));
    this.tcp = tcp;
  }

  /** The bound UDP socket, to share with worker processes (they read the same queue). */
  get udpSocket(): dgram.Socket | undefined {
    return this.udp;
  }

  /** Worker processes: answer UDP on a socket the main process bound and passed over. */
  adopt(udp: dgram.Socket): void {
    udp.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => this.onDatagram(udp, msg, rinfo));
    udp.on('error', (e: Error) => this.warn(`${hostPort(this.spec.address, this.spec.port)}/udp (network ${this.spec.network}): ${e.message}`));
    this.udp = udp;
  }

  /** Send an answer computed elsewhere (for a query a worker passed on). */
  reply(b: Buffer, peer: { address: string; port: number }): void {
    if (this.closing) return;
    const batch = this.batchUdp;
    if (batch !== undefined) {
      this.batch?.mode.native.udpSendTo(batch.fd, b, peer.address, peer.port);
      return;
    }
    const udp = this.udp;
    if (udp !== undefined) this.sendUdp(udp, b, peer);
  }

  async close(): Promise<void> {
    this.closing = true;
    const udp = this.udp;
    const tcp = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    await this.closeBatch();
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }

  /** The hot path: no allocation before the handler, one send after it. */
  private onDatagram(udp: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (!this.allowed(rinfo.address)) return;
    let r: Buffer | Promise<Buffer> | undefined;
    try {
      r = this.handler(this.spec.network, msg, false, rinfo);
    } catch (e: unknown) {
      // A bug must cost one answer, never the service.
      this.warn(`answering ${rinfo.address}: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    if (r === undefined) return;
    if (Buffer.isBuffer(r)) this.sendUdp(udp, r, rinfo);
    else r.then((b) => this.sendUdp(udp, b, rinfo), () => undefined);
  }

  private sendUdp(udp: dgram.Socket, b: Buffer, rinfo: { address: string; port: number }): void {
    if (this.closing) return;
    try {
      udp.send(b, rinfo.port, rinfo.address);
    } catch {
      /* the socket closed between question and answer */
    }
  }

  private onConnection(s: net.Socket): void {
    const peer = s.remoteAddress ?? '';
    if (this.closing || !this.allowed(peer)) {
      s.destroy();
      return;
    }
    const held = this.perClient.get(peer) ?? 0;
    if (held >= TCP_MAX_PER_CLIENT) {
      s.destroy();
      return;
    }
    this.perClient.set(peer, held + 1);
    this.conns.add(s);
    let timer: NodeJS.Timeout | undefined;
    /** One timer per connection: the idle limit between queries, or the deadline of the query under way. */
    const arm = (ms: number): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(() => s.destroy(), ms);
    };
    s.on('close', () => {
      if (timer !== undefined) clearTimeout(timer);
      this.conns.delete(s);
      const n = (this.perClient.get(peer) ?? 1) - 1;
      if (n <= 0) this.perClient.delete(peer);
      else this.perClient.set(peer, n);
    });
    s.on('error', () => undefined);
    arm(TCP_IDLE_MS);
    let buf: Buffer = Buffer.alloc(0);
    let pending = 0;
    /** A query has started arriving (its deadline runs) and is not complete yet. */
    let partial = false;
    const write = (b: Buffer): void => {
      pending--;
      if (s.destroyed) return;
      const framed = Buffer.allocUnsafe(2 + b.length);
      framed.writeUInt16BE(b.length, 0);
      b.copy(framed, 2);
      s.write(framed);
      if (s.writableLength > TCP_MAX_UNREAD) s.destroy();
    };
    s.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        // A zero-length message is not DNS: whatever speaks it gets hung up on.
        if (len === 0) return void s.destroy();
        if (buf.length < 2 + len) break;
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        partial = false;
        if (++pending > TCP_MAX_PENDING) return void s.destroy();
        let r: Buffer | Promise<Buffer> | undefined;
        try {
          r = this.handler(this.spec.network, msg, true);
        } catch (e: unknown) {
          this.warn(`answering ${peer} over TCP: ${e instanceof Error ? e.message : String(e)}`);
          r = undefined;
        }
        if (r === undefined) pending--;
        else if (Buffer.isBuffer(r)) write(r);
        else r.then(write, () => pending--);
        if (s.destroyed) return;
      }
      // The deadline runs from a query's first byte and is not moved by later ones; after a complete query, the idle limit.
      if (buf.length > 0) {
        if (!partial) {
          partial = true;
          arm(this.queryMs);
        }
      } else arm(TCP_IDLE_MS);
    });
  }

  private allowed(address: string): boolean {
    if (address === this.lastAllowed) return true;
    if (this.prefix6 !== undefined) return this.allowed6Check(address);
    const ip = ipv4ToInt(address);
    const ok = ip >= 0 && ((ip & this.mask) >>> 0) === this.net;
    if (ok) this.lastAllowed = address;
    return ok;
  }

  /** BlockList.check costs microseconds: clients that passed are remembered (bounded: a scan just starts it over). */
  private allowed6Check(address: string): boolean {
    if (this.allowed6.has(address)) return true;
    if (!this.prefix6!.check(address, 'ipv6')) return false;
    if (this.allowed6.size >= 4096) this.allowed6.clear();
    this.allowed6.add(address);
    this.lastAllowed = address;
    return true;
  }

  private listenError(e: unknown, proto: 'udp' | 'tcp'): DriverError {
    const { address, port, network } = this.spec;
    const what = `listen on ${hostPort(address, port)}/${proto} for network "${network}"`;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      return new DriverError(`${what}: port ${port} is already in use on ${address} (another DNS server?)`, {
        code: 'E_DNS_PORT_IN_USE',
        cause: e,
        suggestions: [
          `find it: ss -${proto === 'udp' ? 'u' : 't'}lnp 'sport = :${port}'`,
          'stop it (dnsmasq, another `volt dns serve`…), or pick another port with `volt dns serve --port N`',
        ],
      });
    }
    if (code === 'EADDRNOTAVAIL') {
      return new DriverError(`${what}: address ${address} is not on any interface yet`, {
        code: 'E_DNS_ADDRESS_MISSING',
        cause: e,
        suggestions: ['`volt net up` re-creates bridges and their gateway addresses from state'],
      });
    }
    if (code === 'EACCES') {
      return new DriverError(`${what}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`, { code: 'E_DNS_LISTEN', cause: e });
    }
    return new DriverError(`${what}: ${e instanceof Error ? e.message : String(e)}`, { code: 'E_DNS_LISTEN', cause: e });
  }
}

/**
 * Replies go to the literal address a query came from: answer the "lookup"
 * dgram does before every send at once, instead of through dns.lookup and a
 * nextTick (a few per cent of the answer path under load).
 */
function literalLookup(address: string, _family: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  callback(null, address, 4);
}

function literalLookup6(address: string, _family: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  callback(null, address, 6);
}

/** The per-query TCP deadline: VOLT_DNS_TCP_QUERY_MS when it is a positive integer, else the default. */
export function tcpQueryMs(env: NodeJS.ProcessEnv): number {
  const v = (env.VOLT_DNS_TCP_QUERY_MS ?? '').trim();
  return /^[1-9][0-9]{0,6}$/.test(v) ? Number(v) : TCP_QUERY_MS;
}

/** "10.30.0.1:53", "[fd00:30::1]:53" */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function listenerKey(l: DnsListener): string {
  return `${l.network}\0${l.address}\0${l.port}`;
}
