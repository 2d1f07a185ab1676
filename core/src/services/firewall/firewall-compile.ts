import type {
  FirewallAddressMatch,
  FirewallNetwork,
  FirewallPolicy,
  FirewallPortForward,
  FirewallRuleSet,
  FirewallUserRule,
} from '@volt/sdk';
import type { AttachmentRecord, FirewallRuleRecord, NetworkRecord, PolicyRecord, PortForwardRecord, VoltState } from '../../state/types';
import { expandPorts, parseEndpoint, parsePorts } from './firewall-input';

/**
 * Desired state → the driver-neutral rule set (FirewallRuleSet): workload
 * names become address groups and addresses, networks with workloads are
 * listed for hairpin NAT and bridge settings. Pure, and cheap enough to run
 * twice per change (before and after) at 10,000 rules.
 */

/** Group id of a workload's addresses, optionally only those on one network. */
export function groupId(workload: string, network?: string): string {
  return network === undefined ? workload : `${workload}@${network}`;
}

/** A workload's attachments by name, built once per compile. */
function attachmentsByWorkload(state: VoltState): Map<string, AttachmentRecord[]> {
  const m = new Map<string, AttachmentRecord[]>();
  for (const a of state.attachments) {
    const list = m.get(a.workload);
    if (list) list.push(a);
    else m.set(a.workload, [a]);
  }
  return m;
}

/** A workload's addresses (IPv4, and IPv6 on dual-stack networks), optionally only those on one network. */
export function addressesOf(byWorkload: Map<string, AttachmentRecord[]>, workload: string, network?: string): string[] {
  const out: string[] = [];
  for (const a of byWorkload.get(workload) ?? []) {
    if (network !== undefined && a.network !== network) continue;
    out.push(a.ip);
    if (a.ip6 !== undefined) out.push(a.ip6);
  }
  return out;
}

// Stored values were validated when they were added; parsing them again is only
// for their typed form, and thousands of rules share a few distinct values.
const endpointCache = new Map<string, FirewallAddressMatch | { kind: 'workload'; name: string }>();
const portsCache = new Map<string, FirewallUserRule['ports']>();

const ANY: FirewallAddressMatch = { kind: 'any' };

function endpointOf(text: string, rec: FirewallRuleRecord): FirewallAddressMatch | { kind: 'workload'; name: string } {
  if (text === 'any' || text === 'host') return ANY;
  let m = endpointCache.get(text);
  if (!m) {
    // Stored addresses were validated and normalised when the rule was added (endpointText);
    // anything else goes through the full parser, which rejects a hand-edited state file.
    if (STORED_ADDRESS.test(text) || STORED_ADDRESS6.test(text)) m = { kind: 'cidr', cidr: text };
    else {
      const e = parseEndpoint(text, 'address', `firewall rule "${rec.name}"`, { host: true });
      m = e.kind === 'any' || e.kind === 'host' ? ANY : e.kind === 'cidr' ? { kind: 'cidr', cidr: e.cidr } : { kind: 'workload', name: e.name };
    }
    endpointCache.set(text, m);
  }
  return m;
}

/** A normalised address or subnet as endpointText writes it (the driver checks it again before nft sees it). */
const STORED_ADDRESS = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(?:\/(?:3[01]|[12]?\d))?$/;

/** A stored IPv6 address or prefix (canonical, so lower-case hex and colons; the driver checks it fully). */
const STORED_ADDRESS6 = /^[0-9a-f:]*:[0-9a-f:]*(?:\/(?:12[0-8]|1[01]\d|[1-9]?\d))?$/;

function ruleMatch(text: string, rec: FirewallRuleRecord): FirewallAddressMatch {
  const e = endpointOf(text, rec);
  return e.kind === 'workload' ? { kind: 'group', group: groupId(e.name, rec.network) } : e;
}

/**
 * Compiled rules per record object: a change compiles the state before and
 * after it, and the records it did not touch are the same objects both times.
 */
const compiled = new WeakMap<FirewallRuleRecord, { order: number; bridge: string | undefined; rules: FirewallUserRule[] }>();

export function compileRule(rec: FirewallRuleRecord, state: VoltState, groups: Record<string, string[]>, byWorkload: Map<string, AttachmentRecord[]>): FirewallUserRule[] {
  // Scoped to a network that no longer exists: it can match nothing (and must not become unscoped).
  if (rec.network !== undefined && !state.networks[rec.network]) return [];
  const bridge = rec.network === undefined ? undefined : state.networks[rec.network]?.bridge;
  // Records are replaced, never edited, except for `order` (respacing): that and the bridge are checked.
  let entry = compiled.get(rec);
  if (!entry || entry.order !== rec.order || entry.bridge !== bridge) {
    entry = { order: rec.order, bridge, rules: compileRuleFresh(rec, bridge) };
    compiled.set(rec, entry);
  }
  const first = entry.rules[0];
  if (first !== undefined) {
    if (first.source.kind === 'group') addGroup(groups, first.source.group, rec.source, rec, byWorkload);
    if (first.dest.kind === 'group') addGroup(groups, first.dest.group, rec.dest, rec, byWorkload);
  }
  return entry.rules;
}

function addGroup(groups: Record<string, string[]>, id: string, text: string, rec: FirewallRuleRecord, byWorkload: Map<string, AttachmentRecord[]>): void {
  if (groups[id] !== undefined) return;
  const e = endpointOf(text, rec);
  if (e.kind === 'workload') groups[id] = addressesOf(byWorkload, e.name, rec.network);
}

function compileRuleFresh(rec: FirewallRuleRecord, bridge: string | undefined): FirewallUserRule[] {
  const source = ruleMatch(rec.source, rec);
  const dest = ruleMatch(rec.dest, rec);
  const portsText = rec.ports.join(',');
  let ports = portsCache.get(portsText);
  if (!ports) portsCache.set(portsText, (ports = parsePorts(portsText, `firewall rule "${rec.name}"`)));
  return rec.chains.map((chain) => ({
    name: rec.name,
    order: rec.order,
    chain,
    source,
    dest,
    proto: rec.proto,
    ports,
    ...(bridge === undefined ? {} : { inBridge: bridge }),
    action: rec.action,
  }));
}

/** The address a port forward's target is reached at: its first attachment (its default route). */
export function forwardTarget(rec: PortForwardRecord, byWorkload: Map<string, AttachmentRecord[]>): AttachmentRecord | undefined {
  return byWorkload.get(rec.target)?.[0];
}

function compileForward(rec: PortForwardRecord, byWorkload: Map<string, AttachmentRecord[]>): FirewallPortForward {
  const target = forwardTarget(rec, byWorkload);
  return {
    ...(rec.hostIp === undefined ? {} : { hostIp: rec.hostIp }),
    hostPort: rec.hostPort,
    proto: rec.proto,
    ...(target === undefined ? {} : { targetIp: target.ip }),
    ...(target?.ip6 === undefined ? {} : { targetIp6: target.ip6 }),
    targetPort: rec.targetPort,
  };
}

const policyPortsCache = new Map<string, number[]>();

export function compilePolicy(rec: PolicyRecord, byWorkload: Map<string, AttachmentRecord[]>): FirewallPolicy {
  const text = rec.ports.join(',');
  let ports = policyPortsCache.get(text);
  if (!ports) {
    const what = `policy "${rec.name}"`;
    policyPortsCache.set(text, (ports = expandPorts(parsePorts(text, what), what)));
  }
  return {
    name: rec.name,
    from: rec.from === 'any' ? { kind: 'any' } : { kind: 'addresses', addresses: uniqueAddresses(byWorkload, rec.from) },
    to: uniqueAddresses(byWorkload, rec.to),
    proto: rec.proto,
    ports,
    action: rec.action,
  };
}

function uniqueAddresses(byWorkload: Map<string, AttachmentRecord[]>, workload: string): string[] {
  const a = addressesOf(byWorkload, workload);
  return a.length < 2 ? a : [...new Set(a)];
}

export function firewallNetworks(state: VoltState): FirewallNetwork[] {
  const used = new Set(state.attachments.map((a) => a.network));
  return Object.values(state.networks)
    .filter((n) => used.has(n.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(firewallNetworkOf);
}

/** The driver's view of a network: IPv6 fields only for dual-stack networks. */
export function firewallNetworkOf(n: NetworkRecord): FirewallNetwork {
  return {
    name: n.name,
    bridge: n.bridge,
    subnet: n.subnet,
    gateway: n.gateway,
    nat: n.nat,
    ...(n.subnet6 === undefined || n.gateway6 === undefined ? {} : { subnet6: n.subnet6, gateway6: n.gateway6, ipv6Mode: n.ipv6Mode ?? 'nat' }),
  };
}

/** Bridge ports of workloads on dual-stack networks: where table bridge volt lets IPv6 through. */
export function ports6Of(state: VoltState): string[] {
  const out = new Set<string>();
  for (const a of state.attachments) if (state.networks[a.network]?.subnet6 !== undefined) out.add(a.hostIfname);
  return [...out].sort();
}

/** Does any network have IPv6 (so attachments change the rule set even without rules)? */
export function anyDualStack(state: VoltState): boolean {
  for (const n of Object.values(state.networks)) if (n.subnet6 !== undefined) return true;
  return false;
}

/** Everything volt filters beyond the default policy, resolved against the current attachments. */
export function compileRuleSet(state: VoltState): FirewallRuleSet {
  const byWorkload = attachmentsByWorkload(state);
  const groups: Record<string, string[]> = {};
  const rules: FirewallUserRule[] = [];
  for (const r of state.firewall.rules) for (const x of compileRule(r, state, groups, byWorkload)) rules.push(x);
  return {
    rules,
    groups,
    forwards: state.portForwards.map((f) => compileForward(f, byWorkload)),
    policies: Object.values(state.policies)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((p) => compilePolicy(p, byWorkload)),
    networks: firewallNetworks(state),
    ports6: ports6Of(state),
  };
}

export function isEmptyRuleSet(rs: FirewallRuleSet): boolean {
  return rs.rules.length === 0 && rs.forwards.length === 0 && rs.policies.length === 0;
}

export { attachmentsByWorkload };
