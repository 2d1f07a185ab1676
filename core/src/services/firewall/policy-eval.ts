import type { FirewallAddressMatch, FirewallPolicy, FirewallRuleSet, FirewallUserRule } from '@volt/sdk';
import { contains, parseCidr, parseIPv4 } from '../../net/ipv4';
import { contains6, parseCidr6, parseIPv6 } from '../../net/ipv6';

/**
 * What the kernel will do with a new connection from one workload to
 * another, computed from the same resolved rule set the firewall driver
 * compiles — so `volt net policy test` and the kernel agree by construction,
 * and the property test checks that they do.
 *
 * The forward path, in the order the nftables driver installs it:
 *   1. user firewall rules (forward chain), in order, first match wins;
 *   2. policies: a destination that any policy targets is isolated; a
 *      matching deny drops, else a matching allow accepts, else it is dropped;
 *   3. the default: same network allowed, different networks denied.
 * On a bridge whose driver enforces policies in its own switch (switched-policies: Open
 * vSwitch), traffic between two workloads of one network meets 2 and 3 only.
 * Traffic between two workloads on the same bridge passes that path only when
 * the bridge hands it to the IPv4 hooks (br_netfilter); otherwise nothing
 * filters it.
 */

export interface Flow {
  src: string;
  dst: string;
  proto: 'tcp' | 'udp' | 'icmp';
  port?: number;
  /** The bridge the connection enters the host from (the source's network). */
  inBridge: string;
  /** Both ends on the same network: switched by the bridge. */
  sameNetwork: boolean;
  /** For same-network flows: does the bridge pass its traffic to the IPv4 forward hook? */
  bridgeFiltered: boolean;
  bridgeFilterReason?: string;
  /**
   * For same-network flows: the bridge driver that enforces policies in its own switch
   * (capability switched-policies). Firewall rules do not see such traffic; policies and the
   * default apply as below.
   */
  switchedBy?: string;
}

export type Decider =
  | { kind: 'rule'; name: string; action: 'accept' | 'drop' | 'reject' }
  | { kind: 'policy'; name: string; action: 'allow' | 'deny' }
  | { kind: 'isolation'; policies: string[] }
  | { kind: 'default'; reason: 'same network' | 'different networks' }
  | { kind: 'unfiltered'; reason: string };

export interface Verdict {
  allowed: boolean;
  decidedBy: Decider;
}

function inCidr(ip: string, cidr: string): boolean {
  // Each family matches only its own addresses (the kernel rule is `ip ...` or `ip6 ...`).
  if (ip.includes(':') || cidr.includes(':')) {
    if (!ip.includes(':') || !cidr.includes(':')) return false;
    const a6 = parseIPv6(ip);
    const c6 = cidr.includes('/') ? parseCidr6(cidr) : parseIPv6(cidr) === undefined ? undefined : { address: parseIPv6(cidr) as bigint, prefix: 128 };
    return a6 !== undefined && c6 !== undefined && contains6(c6, a6);
  }
  const a = parseIPv4(ip);
  const c = cidr.includes('/') ? parseCidr(cidr) : { address: parseIPv4(cidr) ?? -1, prefix: 32 };
  return a !== undefined && c !== undefined && c.address >= 0 && contains(c, a);
}

function addressMatches(m: FirewallAddressMatch, ip: string, groups: Record<string, string[]>): boolean {
  if (m.kind === 'any') return true;
  if (m.kind === 'cidr') return inCidr(ip, m.cidr);
  return (groups[m.group] ?? []).includes(ip);
}

function protoPortMatches(rule: { proto: string; ports: readonly { from: number; to: number }[] }, flow: Flow): boolean {
  if (rule.ports.length === 0) return rule.proto === 'any' || rule.proto === flow.proto;
  // Ports imply tcp/udp ('any' with ports means both).
  if (flow.proto === 'icmp' || flow.port === undefined) return false;
  if (rule.proto !== 'any' && rule.proto !== flow.proto) return false;
  return rule.ports.some((p) => flow.port! >= p.from && flow.port! <= p.to);
}

export function ruleMatches(r: FirewallUserRule, flow: Flow, groups: Record<string, string[]>): boolean {
  if (r.chain !== 'forward') return false;
  if (r.inBridge !== undefined && r.inBridge !== flow.inBridge) return false;
  return addressMatches(r.source, flow.src, groups) && addressMatches(r.dest, flow.dst, groups) && protoPortMatches(r, flow);
}

export function policyMatches(p: FirewallPolicy, flow: Flow): boolean {
  if (!p.to.includes(flow.dst)) return false;
  if (p.from.kind === 'addresses' && !p.from.addresses.includes(flow.src)) return false;
  return protoPortMatches({ proto: p.proto, ports: p.ports.map((n) => ({ from: n, to: n })) }, flow);
}

export function evaluate(rs: FirewallRuleSet, flow: Flow): Verdict {
  if (flow.sameNetwork && !flow.bridgeFiltered) {
    return { allowed: true, decidedBy: { kind: 'unfiltered', reason: flow.bridgeFilterReason ?? 'the bridge does not pass its traffic to the IPv4 hooks' } };
  }
  const rules = flow.switchedBy !== undefined ? [] : rs.rules.filter((r) => r.chain === 'forward').sort((a, b) => a.order - b.order);
  for (const r of rules) {
    if (ruleMatches(r, flow, rs.groups)) return { allowed: r.action === 'accept', decidedBy: { kind: 'rule', name: r.name, action: r.action } };
  }
  const targeting = rs.policies.filter((p) => p.to.includes(flow.dst));
  if (targeting.length > 0) {
    const deny = targeting.find((p) => p.action === 'deny' && policyMatches(p, flow));
    if (deny) return { allowed: false, decidedBy: { kind: 'policy', name: deny.name, action: 'deny' } };
    const allow = targeting.find((p) => p.action === 'allow' && policyMatches(p, flow));
    if (allow) return { allowed: true, decidedBy: { kind: 'policy', name: allow.name, action: 'allow' } };
    return { allowed: false, decidedBy: { kind: 'isolation', policies: targeting.map((p) => p.name) } };
  }
  return flow.sameNetwork
    ? { allowed: true, decidedBy: { kind: 'default', reason: 'same network' } }
    : { allowed: false, decidedBy: { kind: 'default', reason: 'different networks' } };
}

/** "app-server → db-primary:5432" (tcp, as the spec writes it), ":53/udp", " (icmp)". */
export function flowLabel(from: string, to: string, proto: Flow['proto'], port?: number): string {
  if (proto === 'icmp') return `${from} → ${to} (icmp)`;
  return `${from} → ${to}:${port ?? '?'}${proto === 'tcp' ? '' : `/${proto}`}`;
}

/**
 * The spec's line: `✓ app-server → db-primary:5432 — ALLOWED (policy: app-to-db)`,
 * `✗ web-frontend → db-primary:5432 — DENIED` (isolation: no policy allows it).
 */
export function verdictLine(label: string, v: Verdict): string {
  const head = `${v.allowed ? '✓' : '✗'} ${label} — ${v.allowed ? 'ALLOWED' : 'DENIED'}`;
  const d = v.decidedBy;
  switch (d.kind) {
    case 'rule':
      return `${head} (rule: ${d.name})`;
    case 'policy':
      return `${head} (policy: ${d.name})`;
    case 'isolation':
      return head;
    case 'default':
      return `${head} (default: ${d.reason})`;
    case 'unfiltered':
      return `${head} (not filtered: ${d.reason})`;
  }
}

/** The sentence behind a verdict, for the line under it. */
export function verdictReason(to: string, v: Verdict): string {
  const d = v.decidedBy;
  switch (d.kind) {
    case 'rule':
      return `firewall rule "${d.name}" (${d.action}) is the first rule that matches`;
    case 'policy':
      return d.action === 'deny' ? `policy "${d.name}" denies it (deny wins over allow)` : `policy "${d.name}" allows it`;
    case 'isolation':
      return `${to} is isolated by ${d.policies.length === 1 ? 'policy' : 'policies'} ${d.policies.map((p) => `"${p}"`).join(', ')}, and none allows this`;
    case 'default':
      return d.reason === 'same network' ? 'no rule or policy applies; workloads on one network reach each other' : 'no rule or policy applies; networks are isolated from each other';
    case 'unfiltered':
      return `traffic on one bridge is not filtered here: ${d.reason}`;
  }
}
