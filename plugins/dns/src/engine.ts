import type * as dgram from 'node:dgram';
import type { HostContext } from '@volt/sdk';
import type { DnsListener, DnsResolverOptions, DnsStats, DnsUpstream, DnsView } from '@volt/sdk';
import { DEFAULT_FORWARDER_OPTIONS, Forwarder } from './forwarder';
import { Listener, listenerKey, type BatchHooks } from './listener';
import { LocalAnswerer } from './local-answerer';
import { ReaderPool } from './reader-pool';
import type { ToBatchThread } from './batch-protocol';
import { fitToClient } from './responses';
import type { UdpMode } from './udp-mode';
import { parseQuery, type Query } from './wire';

export { LocalAnswerer };

/**
 * The resolver of the main process: zones, listeners (UDP and TCP), and the
 * one forwarder with the one cache, which also answers the queries worker
 * processes pass on.
 */
export class Engine {
  readonly answerer: LocalAnswerer;
  private readonly listeners = new Map<string, Listener>();
  private forwarder: Forwarder;
  private upstream: DnsUpstream[];
  /** Counts of forwarders replaced by a config reload, so stats keep counting up. */
  private readonly retired = { forwarded: 0, cacheHits: 0, servfail: 0 };
  private readonly draining = new Map<NodeJS.Timeout, Forwarder>();
  private searchDomains: string[];
  private serial: number;
  private readonly batch?: BatchHooks;

  constructor(
    options: DnsResolverOptions,
    serial: number,
    private readonly host: HostContext,
    /** How UDP is read (default: node:dgram). */
    readonly udp: UdpMode = { kind: 'dgram', describe: 'node:dgram' },
    /** The reading threads, when the caller started them already (dns2-resolver.ts starts them first thing); else made here. */
    pool?: ReaderPool,
  ) {
    this.answerer = new LocalAnswerer(options.searchDomains, serial);
    this.searchDomains = [...options.searchDomains];
    this.serial = serial;
    if (udp.kind === 'batch') {
      // One set of reading threads for every listener (reader-pool.ts).
      this.batch = {
        mode: udp,
        pool:
          pool ??
          new ReaderPool({
            mode: udp,
            initial: () => this.threadStart(),
            relay: (fd, msg, peer) => this.relayedOn(fd, msg, peer),
            warn: host.warn,
          }),
      };
    }
    this.upstream = options.upstream.map((u) => ({ ...u }));
    this.forwarder = this.newForwarder(this.upstream);
    this.handle = this.handle.bind(this);
  }

  private newForwarder(upstream: readonly DnsUpstream[]): Forwarder {
    return new Forwarder(upstream, { ...DEFAULT_FORWARDER_OPTIONS, warn: this.host.warn, debug: this.host.debug });
  }

  /**
   * New configuration, live: the search domains are swapped at once; new
   * upstreams get a new forwarder (and so an empty cache: the old servers'
   * answers are not the new ones'), while questions already asked of the old
   * upstreams finish there (or fail at their deadline) before it closes.
   * Returns whether the upstreams changed.
   */
  async reconfigure(options: DnsResolverOptions, serial: number): Promise<boolean> {
    this.answerer.setSearchDomains(options.searchDomains, serial);
    this.searchDomains = [...options.searchDomains];
    this.serial = serial;
    this.postThreads({ op: 'configure', searchDomains: this.searchDomains, serial });
    const same =
      options.upstream.length === this.upstream.length && options.upstream.every((u, i) => u.address === this.upstream[i]?.address && u.port === this.upstream[i]?.port);
    if (same) return false;
    const next = this.newForwarder(options.upstream);
    await next.start();
    const old = this.forwarder;
    this.forwarder = next;
    this.upstream = options.upstream.map((u) => ({ ...u }));
    const timer = setTimeout(() => {
      this.draining.delete(timer);
      this.retire(old);
    }, DEFAULT_FORWARDER_OPTIONS.deadlineMs + 100);
    this.draining.set(timer, old);
    return true;
  }

  /** A network's names, replaced live: here and in the reading threads. */
  publish(view: DnsView): void {
    this.answerer.publish(view);
    this.postThreads({ op: 'publish', view });
  }

  withdraw(network: string): void {
    this.answerer.withdraw(network);
    this.postThreads({ op: 'withdraw', network });
  }

  /** What a reading thread starts from: search domains, SOA serial, every network's view. */
  threadStart(): { searchDomains: string[]; serial: number; views: DnsView[] } {
    return { searchDomains: [...this.searchDomains], serial: this.serial, views: this.answerer.allViews() };
  }

  /** The reading threads hold every network's names (they read every listener's socket). */
  private postThreads(m: ToBatchThread): void {
    this.batch?.pool.post(m);
  }

  /** How each listener reads UDP right now (a listener may have fallen back to dgram). */
  udpModes(): Map<string, 'batch' | 'dgram'> {
    return new Map([...this.listeners.values()].map((l) => [l.spec.network, l.udpMode]));
  }

  private retire(f: Forwarder): void {
    f.close();
    this.retired.forwarded += f.stats.forwarded;
    this.retired.cacheHits += f.stats.cacheHits;
    this.retired.servfail += f.stats.servfail;
  }

  async start(): Promise<void> {
    await this.forwarder.start();
  }

  async stop(): Promise<void> {
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((l) => l.close()));
    await this.batch?.pool.stop();
    for (const [t, f] of this.draining) {
      clearTimeout(t);
      this.retire(f);
    }
    this.draining.clear();
    this.forwarder.close();
    this.answerer.clear();
  }

  /** Bind; returns the UDP socket for workers to share. */
  async startListener(spec: DnsListener): Promise<dgram.Socket | undefined> {
    const key = listenerKey(spec);
    const existing = this.listeners.get(key);
    if (existing) return existing.udpSocket;
    const l = new Listener(spec, this.handle, this.host.warn, this.batch);
    await l.open();
    this.listeners.set(key, l);
    return l.udpSocket;
  }

  async stopListener(spec: DnsListener): Promise<void> {
    const key = listenerKey(spec);
    const l = this.listeners.get(key);
    if (!l) return;
    this.listeners.delete(key);
    await l.close();
  }

  flushCache(): number {
    return this.forwarder.flush();
  }

  stats(): DnsStats {
    let threadQueries = 0;
    for (const l of this.listeners.values()) threadQueries += l.threadQueries;
    return {
      queries: this.answerer.queries + threadQueries,
      forwarded: this.retired.forwarded + this.forwarder.stats.forwarded,
      cacheHits: this.retired.cacheHits + this.forwarder.stats.cacheHits,
      cacheEntries: this.forwarder.cacheSize,
      servfail: this.retired.servfail + this.forwarder.stats.servfail,
    };
  }

  /** Every query the main process reads comes through here. */
  handle(network: string, msg: Buffer, tcp: boolean): Buffer | Promise<Buffer> | undefined {
    const r = this.answerer.local(network, msg);
    if (r === undefined || Buffer.isBuffer(r)) return r;
    return this.forward(msg, r, tcp);
  }

  /** A query a reading thread read on socket `fd` but cannot answer alone. */
  relayedOn(fd: number, msg: Buffer, peer: { address: string; port: number }): void {
    for (const l of this.listeners.values()) if (l.batchFd === fd) return this.relayed(l.key, msg, peer);
  }

  /** A query a worker read but cannot answer alone: answered here, sent from the same socket. */
  relayed(key: string, msg: Buffer, peer: { address: string; port: number }): void {
    const l = this.listeners.get(key);
    if (l === undefined) return;
    const q = parseQuery(msg);
    if (q.rcode !== 0) return;
    const r = this.forward(msg, q, false);
    if (Buffer.isBuffer(r)) l.reply(r, peer);
    else void r.then((b) => l.reply(b, peer));
  }

  private forward(msg: Buffer, q: Query, tcp: boolean): Buffer | Promise<Buffer> {
    const hit = this.forwarder.cached(msg, q);
    if (hit !== undefined) return fitToClient(hit, msg, q, tcp);
    return this.forwarder.resolve(msg, q).then((b) => fitToClient(b, msg, q, tcp));
  }
}
