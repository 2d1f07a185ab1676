import { qemuAlive } from '../vm/vm-qemu';
import { parseIPv6 } from '../../net/ipv6';
import type { VoltConfig } from '../../config/defaults';
import type { DnsListener, DnsRecord, DnsUpstream, DnsView } from '@volt/sdk';
import type { AttachmentRecord, NetworkRecord, VoltState } from '../../state/types';

/** What `volt dns serve` should be doing for a given state: one listener and one view per network. */
export interface DnsPlan {
  listeners: DnsListener[];
  views: DnsView[];
}

export const DNS_PORT = 53;

/** "10.30.0.10" → "10.0.30.10.in-addr.arpa" */
export function reverseName(ip: string): string {
  return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
}

/** "fd00:30::a" → "a.0.0.0.….0.3.0.0.0.0.d.f.ip6.arpa" (32 nibbles, RFC 3596 §2.5); undefined for what is not an IPv6 address. */
export function reverseName6(ip6: string): string | undefined {
  const n = parseIPv6(ip6);
  if (n === undefined) return undefined;
  return `${[...n.toString(16).padStart(32, '0')].reverse().join('.')}.ip6.arpa`;
}

/** A name the wire format can carry: labels of 1-63 octets, 253 characters in all. */
export function isEncodableName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((l) => l.length > 0 && l.length <= 63);
}

/** Config upstreams (plain IP addresses, checked by the config loader) as resolver targets. */
export function upstreamsOf(config: VoltConfig): DnsUpstream[] {
  return config.network.dns.upstream.map((address) => ({ address, port: DNS_PORT }));
}

/**
 * Whether a workload's names are live: containers while attached; VMs only
 * while their QEMU runs (state sets `pid` at start and clears it at stop; a
 * QEMU that died on its own keeps its pid in state until `vm stop` or
 * `net up`, so the process is checked too), so a VM's name disappears when it
 * stops or dies and comes back when it starts.
 */
function published(state: VoltState, a: AttachmentRecord): boolean {
  const w = state.workloads[a.workload];
  return w?.type !== 'vm' || qemuAlive(w.pid, w.uuid);
}

/**
 * The records of one network, in attachment order: NAME, NAME.<domain>…
 * (A, and AAAA when the attachment has a v6 address) and the reverse names
 * (PTR in in-addr.arpa, and in ip6.arpa for the v6 address).
 */
export function networkRecords(state: VoltState, net: NetworkRecord, searchDomains: readonly string[]): DnsRecord[] {
  const out: DnsRecord[] = [];
  for (const a of state.attachments) {
    if (a.network !== net.name || !published(state, a)) continue;
    const names = [a.workload, ...searchDomains.map((d) => `${a.workload}.${d}`)].filter(isEncodableName);
    // Aliases (Compose service names and `aliases:`) answer A queries too; the PTR keeps the workload's own name.
    const aliasNames = (a.aliases ?? []).filter((x) => x !== a.workload).flatMap((x) => [x, ...searchDomains.map((d) => `${x}.${d}`)]).filter(isEncodableName);
    if (names.length === 0) continue;
    // The PTR points at the fully qualified name when there is a search domain, as dnsmasq does.
    const ptr = names.find((n) => n !== a.workload) ?? names[0]!;
    if (a.ip !== '') {
      for (const name of [...names, ...aliasNames]) out.push({ name, type: 'A', value: a.ip, network: net.name });
      out.push({ name: reverseName(a.ip), type: 'PTR', value: ptr, network: net.name });
    }
    const rev6 = a.ip6 === undefined ? undefined : reverseName6(a.ip6);
    if (a.ip6 !== undefined && rev6 !== undefined) {
      for (const name of [...names, ...aliasNames]) out.push({ name, type: 'AAAA', value: a.ip6, network: net.name });
      out.push({ name: rev6, type: 'PTR', value: ptr, network: net.name });
    }
  }
  return out;
}

export function planDns(state: VoltState, config: VoltConfig, port: number = DNS_PORT): DnsPlan {
  const domains = config.network.dns.search_domains;
  const forwarding = config.network.dns.upstream.length > 0;
  const nets = Object.values(state.networks).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    // A dual-stack network is listened on at both gateways; each answers only its own family's subnet.
    listeners: nets.flatMap((n) => [
      { network: n.name, address: n.gateway, port, subnet: n.subnet },
      ...(n.gateway6 !== undefined && n.subnet6 !== undefined ? [{ network: n.name, address: n.gateway6, port, subnet: n.subnet6 }] : []),
    ]),
    views: nets.map((n) => ({
      network: n.name,
      subnet: n.subnet,
      ...(n.subnet6 !== undefined ? { subnet6: n.subnet6 } : {}),
      records: networkRecords(state, n, domains),
      forward: n.nat && forwarding,
    })),
  };
}

/** Every record of every network (for `volt net dns list`). */
export function dnsRecords(state: VoltState, config: VoltConfig): DnsRecord[] {
  return planDns(state, config).views.flatMap((v) => v.records);
}
