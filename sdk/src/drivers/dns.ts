import { token } from '../di/token';
import type { Driver } from './driver';

/** One name the resolver answers, as `volt net dns list` shows it. */
export interface DnsRecord {
  /** Owner name without the trailing dot: "db-primary", "db-primary.volt.local", "10.0.30.10.in-addr.arpa", "a.0…0.3.0.0.0.0.d.f.ip6.arpa". */
  name: string;
  type: 'A' | 'AAAA' | 'PTR';
  /** An IPv4 address (A), an IPv6 address in canonical compressed form (AAAA) or a domain name (PTR). */
  value: string;
  network: string;
}

/**
 * What the clients of one network may resolve: the workloads on that network
 * and nothing of other networks (spec: "DNS resolution for all other
 * workloads on the same network").
 */
export interface DnsView {
  network: string;
  /** "10.30.0.0/24": its reverse names are answered here, never forwarded. */
  subnet: string;
  /** "fd00:30::/64" on a dual-stack network: its ip6.arpa names are answered here, never forwarded. */
  subnet6?: string;
  records: DnsRecord[];
  /** Forward names volt does not own upstream; false for `--no-nat` networks (names only). */
  forward: boolean;
}

/**
 * Where one network's clients reach the resolver: its gateway address. A
 * dual-stack network has two, one per family (the v4 gateway with the v4
 * subnet, the v6 gateway with the v6 prefix).
 */
export interface DnsListener {
  network: string;
  /** "10.30.0.1" or "fd00:30::1". */
  address: string;
  port: number;
  /** Only clients from this subnet are answered (not an open resolver); of the same family as `address`. */
  subnet: string;
}

export interface DnsUpstream {
  address: string;
  port: number;
}

export interface DnsResolverOptions {
  /** Tried in order, failing over; empty means nothing is forwarded. */
  upstream: DnsUpstream[];
  /** Zones volt owns ("volt.local"): NAME.<zone> is answered, unknown names there get NXDOMAIN. */
  searchDomains: string[];
  /** Extra processes answering UDP beside the main one (0: one process); a hint a driver may ignore. */
  workers?: number;
}

export interface DnsStats {
  queries: number;
  forwarded: number;
  cacheHits: number;
  cacheEntries: number;
  servfail: number;
}

/**
 * The resolver behind `volt dns serve`. Pairs: start/stop (the engine and its
 * upstream sockets), startListener/stopListener (one network's gateway, UDP
 * and TCP), publish/withdraw (one network's names, replaced live).
 */
export interface DnsDriver extends Driver {
  start(options: DnsResolverOptions): Promise<void>;
  /** Closes every listener and upstream socket; safe after a failed start. */
  stop(): Promise<void>;
  /**
   * Bind UDP and TCP on the listener's address. Errors carry a stable code:
   * E_DNS_PORT_IN_USE (someone else has the port), E_DNS_ADDRESS_MISSING (the
   * gateway address is not on any interface yet), E_DNS_LISTEN.
   */
  startListener(listener: DnsListener): Promise<void>;
  /** A listener that is not running is success. */
  stopListener(listener: DnsListener): Promise<void>;
  /** Replace the names of one network (live, without restart). */
  publish(view: DnsView): Promise<void>;
  /** Forget a network's names; an unknown network is success. */
  withdraw(network: string): Promise<void>;
  /** Empty the cache of forwarded answers; returns how many entries were dropped. */
  flushCache(): Promise<number>;
  stats(): Promise<DnsStats>;
}

export const DnsDriver = token<DnsDriver>('volt.driver.dns');
