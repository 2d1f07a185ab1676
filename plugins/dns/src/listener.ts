import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { DnsListener } from '@volt/core/dist/drivers/dns';
import { DriverError } from '@volt/core/dist/errors';
import { ipv4ToInt } from './zone';

/** Answer now (a Buffer), later (a Promise), or not at all (undefined). `peer` is the UDP client. */
export type QueryHandler = (network: string, msg: Buffer, tcp: boolean, peer?: dgram.RemoteInfo) => Buffer | Promise<Buffer> | undefined;

/** RFC 7766 asks servers to close idle TCP connections; seconds, not minutes. */
const TCP_IDLE_MS = 10_000;
const TCP_MAX_CONNECTIONS = 256;
/** Queries one TCP connection may have unanswered at once (pipelining, RFC 7766 §6.2.1.1). */
const TCP_MAX_PENDING = 64;
/** A larger receive buffer rides out bursts; the kernel caps it at net.core.rmem_max. */
const UDP_RECV_BUFFER = 4 * 1024 * 1024;

/**
 * One network's gateway: a UDP socket and a TCP server bound to that address
 * only (never the wildcard), answering only clients from the network's
 * subnet. Everything else is dropped without a reply: an open resolver or a
 * reflector is worse than a silent one.
 */
export class Listener {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly conns = new Set<net.Socket>();
  private readonly net: number;
  private readonly mask: number;
  private closing = false;
  /** The last client that passed the subnet check: a busy client skips the parse. */
  private lastAllowed = '';

  constructor(
    readonly spec: DnsListener,
    private readonly handler: QueryHandler,
    private readonly warn: (m: string) => void,
  ) {
    const [addr, prefix] = spec.subnet.split('/');
    this.mask = Number(prefix) === 0 ? 0 : (0xffffffff << (32 - Number(prefix))) >>> 0;
    this.net = (ipv4ToInt(addr ?? '') & this.mask) >>> 0;
  }

  get key(): string {
    return listenerKey(this.spec);
  }

  async open(): Promise<void> {
    const { address, port } = this.spec;
    const udp = dgram.createSocket({ type: 'udp4', lookup: literalLookup });
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
    udp.on('error', (e: Error) => this.warn(`${address}:${port}/udp (network ${this.spec.network}): ${e.message}`));
    try {
      udp.setRecvBufferSize(UDP_RECV_BUFFER);
    } catch {
      /* the default buffer still works, it only drops more under bursts */
    }
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
      udp.close();
      tcp.close();
      throw this.listenError(e, 'tcp');
    }
    tcp.on('error', (e: Error) => this.warn(`${address}:${port}/tcp (network ${this.spec.network}): ${e.message}`));
    this.udp = udp;
    this.tcp = tcp;
  }

  /** The bound UDP socket, to share with worker processes (they read the same queue). */
  get udpSocket(): dgram.Socket | undefined {
    return this.udp;
  }

  /** Worker processes: answer UDP on a socket the main process bound and passed over. */
  adopt(udp: dgram.Socket): void {
    udp.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => this.onDatagram(udp, msg, rinfo));
    udp.on('error', (e: Error) => this.warn(`${this.spec.address}:${this.spec.port}/udp (network ${this.spec.network}): ${e.message}`));
    this.udp = udp;
  }

  /** Send an answer computed elsewhere (for a query a worker passed on). */
  reply(b: Buffer, peer: { address: string; port: number }): void {
    const udp = this.udp;
    if (udp !== undefined && !this.closing) this.sendUdp(udp, b, peer);
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
    if (this.closing || !this.allowed(s.remoteAddress ?? '')) {
      s.destroy();
      return;
    }
    this.conns.add(s);
    s.on('close', () => this.conns.delete(s));
    s.on('error', () => undefined);
    s.setTimeout(TCP_IDLE_MS, () => s.destroy());
    let buf: Buffer = Buffer.alloc(0);
    let pending = 0;
    const write = (b: Buffer): void => {
      pending--;
      if (s.destroyed) return;
      const framed = Buffer.allocUnsafe(2 + b.length);
      framed.writeUInt16BE(b.length, 0);
      b.copy(framed, 2);
      s.write(framed);
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
        if (++pending > TCP_MAX_PENDING) return void s.destroy();
        let r: Buffer | Promise<Buffer> | undefined;
        try {
          r = this.handler(this.spec.network, msg, true);
        } catch (e: unknown) {
          this.warn(`answering ${s.remoteAddress ?? '?'} over TCP: ${e instanceof Error ? e.message : String(e)}`);
          r = undefined;
        }
        if (r === undefined) pending--;
        else if (Buffer.isBuffer(r)) write(r);
        else r.then(write, () => pending--);
      }
    });
  }

  private allowed(address: string): boolean {
    if (address === this.lastAllowed) return true;
    const ip = ipv4ToInt(address);
    const ok = ip >= 0 && ((ip & this.mask) >>> 0) === this.net;
    if (ok) this.lastAllowed = address;
    return ok;
  }

  private listenError(e: unknown, proto: 'udp' | 'tcp'): DriverError {
    const { address, port, network } = this.spec;
    const what = `listen on ${address}:${port}/${proto} for network "${network}"`;
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

export function listenerKey(l: DnsListener): string {
  return `${l.network}\0${l.address}\0${l.port}`;
}
