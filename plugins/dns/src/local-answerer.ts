import type { DnsView } from '@volt/sdk';
import { errorResponse } from './responses';
import { CLASS_ANY, CLASS_IN, DROP, RCODE, TYPE, parseQuery, type Query } from './wire';
import { NetworkZone, ownedDomain, type EncodeCache, type OwnedDomain } from './zone';

/*
 * Kept apart from engine.ts (forwarder, listeners) so that what answers in a
 * reading thread or a worker process loads only the zone code.
 */

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
  /** Networks published since their zone was last built. */
  private readonly stale = new Set<string>();
  queries = 0;

  constructor(searchDomains: readonly string[], serial: number) {
    this.domains = searchDomains.map((d) => ownedDomain(d.toLowerCase(), serial));
  }

  /**
   * A network's names from now on. The zone (dns2 encodings, the answer maps)
   * is built when the network is first asked, not here: a service starting
   * with 50 networks, in the main thread and in each reading thread, answers
   * without first encoding every network's records (docs/decisions/0012).
   */
  publish(view: DnsView): void {
    this.views.set(view.network, view);
    this.zones.delete(view.network);
    this.stale.add(view.network);
  }

  /** The network's zone, built from its last view if that has not been done yet. */
  private zoneOf(network: string): NetworkZone | undefined {
    if (this.stale.has(network)) {
      const view = this.views.get(network);
      this.stale.delete(network);
      if (view !== undefined) {
        // Reuse the encodings of records that survive; those that do not go with the old map.
        const next: EncodeCache = new Map();
        const zone = new NetworkZone(view, this.domains, this.encoded.get(network) ?? new Map(), next);
        this.encoded.set(network, next);
        this.zones.set(network, zone);
      }
    }
    return this.zones.get(network);
  }

  /** The view last published for a network (what a new reading thread starts from). */
  viewOf(network: string): DnsView | undefined {
    return this.views.get(network);
  }

  /** Every view published (what a new reading thread starts from). */
  allViews(): DnsView[] {
    return [...this.views.values()];
  }

  withdraw(network: string): void {
    this.zones.delete(network);
    this.stale.delete(network);
    this.encoded.delete(network);
    this.views.delete(network);
  }

  clear(): void {
    this.zones.clear();
    this.stale.clear();
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
    const zone0 = msg.length >= 17 && msg.length <= MEMO_MAX_QUERY && msg[10] === 0 && msg[11] === 0 ? this.zoneOf(network) : undefined;
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
    const zone = this.zoneOf(network);
    // A listener whose names are not published yet says so rather than guessing.
    if (zone === undefined) return errorResponse(msg, q, RCODE.REFUSED);
    const own = zone.answer(msg, q);
    if (own !== undefined) return own;
    if (!zone.forward) return errorResponse(msg, q, RCODE.REFUSED);
    return q;
  }
}
