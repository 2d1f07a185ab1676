import { token } from '../di/token';
import type { Driver } from './driver';

export interface FirewallNetwork {
  name: string;
  bridge: string;
  /** "10.30.0.0/24" */
  subnet: string;
  /** "10.30.0.1" */
  gateway: string;
  nat: boolean;
  /** Dual-stack networks only: "fd00:30::/64" (canonical form). Absent: IPv6 stays closed on this network. */
  subnet6?: string;
  /** "fd00:30::1", present when subnet6 is. */
  gateway6?: string;
  /** How IPv6 leaves the network: NAT66 masquerade (default) or routed (no masquerade). */
  ipv6Mode?: 'nat' | 'routed';
}

export interface HostInputPolicy {
  /** Verdict for new inbound connections to the host that no rule accepts. */
  policy: 'drop' | 'accept';
  /** Always-open host ports, e.g. "tcp/22", so an operator is never locked out. */
  allow: string[];
}

/** Which addresses a rule matches: anything, one address or subnet, or a named group (a workload's addresses). */
export type FirewallAddressMatch = { kind: 'any' } | { kind: 'cidr'; cidr: string } | { kind: 'group'; group: string };

export interface FirewallPortRange {
  from: number;
  to: number;
}

export type FirewallProto = 'tcp' | 'udp' | 'icmp' | 'any';

/**
 * A user firewall rule, resolved: workloads are named groups whose addresses
 * are in `FirewallRuleSet.groups`, so an address change touches the group only.
 */
export interface FirewallUserRule {
  name: string;
  /** Evaluation position: rules run in ascending order, first match wins. Unique and stable across changes. */
  order: number;
  /** 'input': traffic to the host itself; 'forward': traffic to or between workloads and out of networks. */
  chain: 'input' | 'forward';
  source: FirewallAddressMatch;
  dest: FirewallAddressMatch;
  proto: FirewallProto;
  /** Destination ports (tcp/udp, or both for 'any'); empty means every port. */
  ports: FirewallPortRange[];
  /** Only traffic arriving from this bridge (`--network`). */
  inBridge?: string;
  action: 'accept' | 'drop' | 'reject';
}

/**
 * A port forward: host port → a workload's address; no target address means nothing to forward to yet.
 * `hostIp` may be IPv4 (only IPv4 is forwarded) or IPv6 (only IPv6); without it both families are.
 */
export interface FirewallPortForward {
  /** Only connections to this host address; undefined: to any local address. */
  hostIp?: string;
  hostPort: number;
  proto: 'tcp' | 'udp';
  targetIp?: string;
  /** The target's IPv6 address (dual-stack networks): connections over IPv6 go there. */
  targetIp6?: string;
  targetPort: number;
}

/** A network policy, resolved to addresses. */
export interface FirewallPolicy {
  name: string;
  /** 'any': any workload on any volt network. */
  from: { kind: 'any' } | { kind: 'addresses'; addresses: string[] };
  /** The addresses of the workload the policy protects (isolates). */
  to: string[];
  proto: FirewallProto;
  /** Empty: every port (and, for 'any'/'icmp', every protocol's traffic). */
  ports: number[];
  action: 'allow' | 'deny';
}

/**
 * Everything volt filters beyond the default policy, as plain data: user
 * rules, port forwards and policies with workload names already resolved.
 * Drivers compile it; `applyRules` replaces one such set with another.
 */
export interface FirewallRuleSet {
  rules: FirewallUserRule[];
  /** Address groups the rules refer to: group id → the workload's addresses (IPv4 and IPv6). */
  groups: Record<string, string[]>;
  forwards: FirewallPortForward[];
  policies: FirewallPolicy[];
  /** Networks that have workloads attached: hairpin NAT and per-bridge filtering settings apply to them. */
  networks: FirewallNetwork[];
  /**
   * Bridge ports (veth host ends, TAPs) of workloads on dual-stack networks: IPv6 crosses these
   * ports, and no other workload port. Absent: none.
   */
  ports6?: string[];
}

/** Whether traffic between two ports of a bridge passes the IPv4 forward hook (br_netfilter). */
export interface BridgeFiltering {
  bridge: string;
  filtered: boolean;
  /** How: "per-bridge nf_call_iptables", "net.bridge.bridge-nf-call-iptables=1", or why not. */
  reason: string;
  /** The same for IPv6 (nf_call_ip6tables), when the driver can tell. */
  filtered6?: boolean;
  reason6?: string;
}

/**
 * The firewall contract: symmetric pairs, each applied as one atomic
 * transaction, only ever touching volt's own table.
 *
 * User rules, port forwards and policies are an optional capability
 * (`applyRules` / `removeRules`, with `foreignConflicts` and
 * `bridgeFiltering`): a driver written before it existed keeps working, and
 * volt says so clearly when someone asks it for a rule it cannot install.
 */
export interface FirewallDriver extends Driver {
  /**
   * Table, base chains and the default policy (idempotent). With `rules`, the
   * table also gets the hooks for user rules, port forwards and policies, and
   * exactly those rules, in the same transaction (as after a flushed ruleset).
   */
  setupBase(policy: HostInputPolicy, rules?: FirewallRuleSet): Promise<void>;
  /** Remove everything volt owns in the firewall; absent is success. */
  teardownBase(): Promise<void>;
  /** Isolation, host access and masquerade for one network (idempotent). */
  setupNetwork(net: FirewallNetwork): Promise<void>;
  /** Undo setupNetwork; a network that has no rules is success. */
  teardownNetwork(net: FirewallNetwork): Promise<void>;
  /**
   * Replace the user rules, port forwards and policies in the kernel with
   * `next`, in one transaction: the new rules go in before the old ones go out.
   * `previous` is what the last call applied (from desired state); with it the
   * driver changes only the difference, without reading the kernel.
   */
  applyRules?(next: FirewallRuleSet, previous?: FirewallRuleSet): Promise<void>;
  /** Undo applyRules: no user rules, forwards or policies remain (idempotent). */
  removeRules?(): Promise<void>;
  /** Differences between what should be there and what is, one sentence each. */
  check(policy: HostInputPolicy, nets: FirewallNetwork[], rules?: FirewallRuleSet): Promise<string[]>;
  /**
   * Objects in the kernel the driver recognises as volt's (its table, its rule comments, port-forward
   * elements) that nothing in `nets` / `rules` produces: `volt net check` lists them as orphan-nft
   * findings (docs/leftovers.md); `volt net up` replaces them with the desired rules (setupBase).
   */
  orphans?(policy: HostInputPolicy, nets: FirewallNetwork[], rules?: FirewallRuleSet): Promise<{ object: string; detail: string }[]>;
  /** Remove the orphans that setupBase does not replace (chains and elements of networks state does not have). */
  removeOrphans?(policy: HostInputPolicy, nets: FirewallNetwork[], rules?: FirewallRuleSet): Promise<void>;
  /** Other firewalls' base chains that would drop the traffic of these bridges, one warning each (read-only). */
  foreignConflicts?(bridges: string[]): Promise<string[]>;
  /** For `policy test`: is same-network traffic on these bridges filtered at all? */
  bridgeFiltering?(bridges: string[]): Promise<BridgeFiltering[]>;
}

export const FirewallDriver = token<FirewallDriver>('volt.driver.firewall');
