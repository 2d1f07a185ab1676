import type * as dgram from 'node:dgram';
import type { HostContext } from '@volt/core/dist/di/registration';
import type { DnsListener, DnsResolverOptions, DnsStats, DnsUpstream, DnsView } from '@volt/core/dist/drivers/dns';
import { DEFAULT_FORWARDER_OPTIONS, Forwarder } from './forwarder';
import { Listener, listenerKey } from './listener';
import { errorResponse, fitToClient } from './responses';
import { CLASS_ANY, CLASS_IN, DROP, RCODE, TYPE, parseQuery, type Query } from './wire';
import { NetworkZone, ownedDomain, type EncodeCache, type OwnedDomain } from './zone';

/** Answers remembered per zone (dropped with the zone on every publish). */
const MEMO_MAX_ENTRIES = 20_000;
const MEMO_MAX_QUERY = 300;

/** Types volt-dns will not serve in any form: zone transfers and the obsolete mailbox queries. */
const NOT_IMPLEMENTED: ReadonlySet<number> = new Set([TYPE.AXFR, TYPE.IXFR, TYPE.MAILA, TYPE.MAILB]);

/**
 * What every process answering queries has: the per-network zones and the
 * checks before them. Its answer is a Buffer, undefined (drop), or the
 * parsed Query when the name must be forwarded.
 */
export class LocalAnswerer {
  private readonly zones = new Map<string, NetworkZone>();
  private domains: OwnedDomain[];
  /** Per network: the encodings its last publish used, reused by the next one. */
  private readonly encoded = new Map<string, EncodeCache>();
  /** Per network: the view last published, to rebuild its zone when the search domains change. */
  private readonly views = new Map<string, DnsView>();
  queries = 0;

  constructor(searchDomains: readonly string[], serial: number) {
    this.domains = searchDomains.map((d) => ownedDomain(d.toLowerCase(), serial));
  }

  publish(view: DnsView): void {
    // Reuse the encodings of records that survive; those that do not go with the old map.
    const next: EncodeCache = new Map();
    const zone = new NetworkZone(view, this.domains, this.encoded.get(view.network) ?? new Map(), next);
    this.encoded.set(view.network, next);
    this.views.set(view.network, view);
    this.zones.set(view.network, zone);
  }

  withdraw(network: string): void {
    this.zones.delete(network);
    this.encoded.delete(network);
    this.views.delete(network);
  }

  clear(): void {
    this.zones.clear();
    this.encoded.clear();
    this.views.clear();
  }

  /**
   * New search domains (config reloaded): the zones volt owns change, so every
   * zone is rebuilt from its last view at once (a new SOA serial says the zone
   * changed). The views themselves, whose NAME.<domain> records follow the
   * domains, are republished by the caller right after.
   */
  setSearchDomains(searchDomains: readonly string[], serial: number): void {
    this.domains = searchDomains.map((d) => ownedDomain(d.toLowerCase(), serial));
    for (const view of [...this.views.values()]) this.publish(view);
  }

  local(network: string, msg: Buffer): Buffer | Query | undefined {
    this.queries++;
    // The same question bytes (all but the ID) on the same zone get the same answer: a repeat
    // costs a copy. Only queries without additional records: EDNS cookies make every query unique.
    const zone0 = msg.length >= 17 && msg.length <= MEMO_MAX_QUERY && msg[10] === 0 && msg[11] === 0 ? this.zones.get(network) : undefined;
    if (zone0 !== undefined) {
      const hit = zone0.memo.get(msg.toString('latin1', 2));
      if (hit !== undefined) {
        const out = Buffer.allocUnsafe(hit.length);
        hit.copy(out);
        out[0] = msg[0]!;
        out[1] = msg[1]!;
        return out;
      }
    }
    const r = this.compute(network, msg);
    if (zone0 !== undefined && Buffer.isBuffer(r)) {
      // Bounded by starting over: junk (a fuzzer, a scan) cannot crowd out real questions for long.
      if (zone0.memo.size >= MEMO_MAX_ENTRIES) zone0.memo.clear();
      zone0.memo.set(msg.toString('latin1', 2), r);
    }
    return r;
  }

  private compute(network: string, msg: Buffer): Buffer | Query | undefined {
    const q = parseQuery(msg);
    if (q.rcode === DROP) return undefined;
    if (q.rcode !== 0) return errorResponse(msg, q, q.rcode);
    if (q.qtype === TYPE.OPT) return errorResponse(msg, q, RCODE.FORMERR);
    if (NOT_IMPLEMENTED.has(q.qtype) || (q.qclass !== CLASS_IN && q.qclass !== CLASS_ANY)) return errorResponse(msg, q, RCODE.NOTIMP);
    const zone = this.zones.get(network);
    // A listener whose names are not published yet says so rather than guessing.
    if (zone === undefined) return errorResponse(msg, q, RCODE.REFUSED);
    const own = zone.answer(msg, q);
    if (own !== undefined) return own;
    if (!zone.forward) return errorResponse(msg, q, RCODE.REFUSED);
    return q;
  }
}

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

  constructor(
    options: DnsResolverOptions,
    serial: number,
    private readonly host: HostContext,
  ) {
    this.answerer = new LocalAnswerer(options.searchDomains, serial);
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
    const l = new Listener(spec, this.handle, this.host.warn);
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
    return {
      queries: this.answerer.queries,
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
