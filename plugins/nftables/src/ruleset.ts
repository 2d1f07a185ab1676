import { UserInputError } from '@volt/sdk';
import type { FirewallNetwork, FirewallRuleSet, HostInputPolicy } from '@volt/sdk';
import { isIfname } from '@volt/sdk/kernel';
import { formatIPv4, parseIPv4 } from '@volt/sdk/net';
import { isCidr6, isIpv6 } from './ip6';
import { BASE_HOOKS, NAT_OUT_HOOK, OVERLAY_CHAIN, overlayModel, replaceOverlay, validateRuleSet, type OverlayListing } from './overlay';

/**
 * The nftables ruleset volt wants, as plain data, and the `nft -f` scripts
 * that put it in place. Pure: no I/O, so it is unit-tested without root.
 *
 * Rule texts are written exactly as `nft list` prints them; drift checking
 * renders the kernel's JSON listing back to that form and compares strings.
 *
 * Shape (one table, nothing else touched):
 *   sets    bridges (ifname), nat_subnets (ipv4 interval)
 *   maps    forward_from, input_from: iifname -> jump net-<name>-out / -in
 *   chains  volt-input, volt-forward, volt-nat-pre, volt-nat-post (base),
 *           net-<name>-out (forwarded traffic from a network),
 *           net-<name>-in (traffic from a network to the host)
 * The base chains look networks up in sets and maps, so their per-packet cost
 * does not grow with the number of networks, and setting up a network never
 * rewrites a base chain.
 */

export const FAMILY = 'inet';
export const TABLE = 'volt';
const T = `${FAMILY} ${TABLE}`;

export const BASE_CHAIN = {
  input: 'volt-input',
  forward: 'volt-forward',
  natPre: 'volt-nat-pre',
  natPost: 'volt-nat-post',
} as const;

export const SET_NAME = {
  bridges: 'bridges',
  natSubnets: 'nat_subnets',
  /** Bridges of dual-stack networks: IPv6 is routed from and to these only. */
  bridges6: 'bridges6',
  /** IPv6 prefixes masqueraded (NAT66) when leaving the host. */
  natSubnets6: 'nat_subnets6',
  forwardFrom: 'forward_from',
  inputFrom: 'input_from',
} as const;

export interface BaseHook {
  type: 'filter' | 'nat';
  hook: 'input' | 'forward' | 'prerouting' | 'postrouting' | 'output';
  /** Priority as written in scripts (symbolic where nft allows it). */
  priority: 'filter' | 'dstnat' | 'srcnat' | '-100';
  /** The same priority as a number, as `nft -j` lists it. */
  prio: number;
  policy: 'accept' | 'drop';
}

export interface ChainModel {
  name: string;
  /** Present for base chains. */
  hook?: BaseHook;
  /** Rules in order, in `nft list` syntax. */
  rules: string[];
  /** The network a chain belongs to; undefined for base chains. */
  network?: string;
}

export interface SetModel {
  kind: 'set' | 'map';
  name: string;
  type: string;
  /** Data type of a map ("verdict", "ipv4_addr . inet_service"). */
  map?: string;
  flags: string[];
  /** Who fills it, for drift messages about left-over elements: networks (default) or user rules. */
  owner?: 'networks' | 'rules';
  /** What it stands for in drift messages ('workload "web"'). */
  label?: string;
}

/** One element of a set or map, in `nft list` syntax. */
export interface ElementModel {
  set: string;
  key: string;
  /** The verdict of a map element. */
  value?: string;
  /** The network an element belongs to. */
  network?: string;
  /** The rule, forward or policy it comes from, for drift messages. */
  label?: string;
}

export interface NetworkModel {
  net: FirewallNetwork;
  chains: ChainModel[];
  /** Elements that must be present. */
  elements: ElementModel[];
  /** Elements that must not be present (e.g. the subnet of a --no-nat network in nat_subnets). */
  absent: ElementModel[];
}

export interface TableModel {
  chains: ChainModel[];
  sets: SetModel[];
  elements: ElementModel[];
  absent: ElementModel[];
}

export const SETS: readonly SetModel[] = [
  { kind: 'set', name: SET_NAME.bridges, type: 'ifname', flags: [] },
  { kind: 'set', name: SET_NAME.natSubnets, type: 'ipv4_addr', flags: ['interval'] },
  { kind: 'set', name: SET_NAME.bridges6, type: 'ifname', flags: [] },
  { kind: 'set', name: SET_NAME.natSubnets6, type: 'ipv6_addr', flags: ['interval'] },
  { kind: 'map', name: SET_NAME.forwardFrom, type: 'ifname', map: 'verdict', flags: [] },
  { kind: 'map', name: SET_NAME.inputFrom, type: 'ifname', map: 'verdict', flags: [] },
];

const HOOKS: Record<keyof typeof BASE_CHAIN, BaseHook> = {
  input: { type: 'filter', hook: 'input', priority: 'filter', prio: 0, policy: 'accept' },
  forward: { type: 'filter', hook: 'forward', priority: 'filter', prio: 0, policy: 'accept' },
  natPre: { type: 'nat', hook: 'prerouting', priority: 'dstnat', prio: -100, policy: 'accept' },
  natPost: { type: 'nat', hook: 'postrouting', priority: 'srcnat', prio: 100, policy: 'accept' },
};

// ---------------------------------------------------------------------------
// Validation: everything that reaches a script is checked first, so nothing
// from outside can change the meaning of the script text.

const NETWORK_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const ALLOW_ENTRY = /^(tcp|udp)\/(\d{1,5})(?:-(\d{1,5}))?$/;

function invalid(what: string, why: string): UserInputError {
  return new UserInputError(`${what}: ${why}`, { code: 'E_FIREWALL_INPUT' });
}

interface Cidr {
  network: number;
  prefix: number;
}

function parseCidr(text: string): Cidr | undefined {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  if (!m) return undefined;
  const addr = parseIPv4(m[1] ?? '');
  const prefix = Number(m[2]);
  if (addr === undefined || prefix < 1 || prefix > 30) return undefined;
  const size = 2 ** (32 - prefix);
  return { network: addr - (addr % size), prefix };
}

/** A network checked and normalised (subnet to its network address). */
export function validateNetwork(net: FirewallNetwork, what = `firewall for network "${String(net.name)}"`): FirewallNetwork {
  if (typeof net.name !== 'string' || !NETWORK_NAME.test(net.name)) {
    throw invalid(what, `network name "${String(net.name)}" must be 1-32 characters of a-z, 0-9, "_" and "-", starting with a letter or digit`);
  }
  if (typeof net.bridge !== 'string' || !isIfname(net.bridge)) {
    throw invalid(what, `bridge name "${String(net.bridge)}" must be 1-15 characters of A-Z, a-z, 0-9, "_", "." and "-"`);
  }
  const cidr = typeof net.subnet === 'string' ? parseCidr(net.subnet) : undefined;
  if (!cidr) throw invalid(what, `subnet "${String(net.subnet)}" is not an IPv4 network with a prefix of /1 to /30`);
  const gw = typeof net.gateway === 'string' ? parseIPv4(net.gateway) : undefined;
  const size = 2 ** (32 - cidr.prefix);
  if (gw === undefined) throw invalid(what, `gateway "${String(net.gateway)}" is not an IPv4 address`);
  if (gw < cidr.network || gw >= cidr.network + size) {
    throw invalid(what, `gateway ${net.gateway} is outside subnet ${net.subnet}`);
  }
  if (typeof net.nat !== 'boolean') throw invalid(what, 'nat must be true or false');
  const v6: Pick<FirewallNetwork, 'subnet6' | 'gateway6' | 'ipv6Mode'> = {};
  if (net.subnet6 !== undefined) {
    if (!isCidr6(net.subnet6) || !net.subnet6.includes('/')) throw invalid(what, `subnet6 "${String(net.subnet6)}" is not an IPv6 prefix such as fd00:30::/64`);
    if (!isIpv6(net.gateway6)) throw invalid(what, `gateway6 "${String(net.gateway6)}" is not an IPv6 address`);
    if (net.ipv6Mode !== undefined && net.ipv6Mode !== 'nat' && net.ipv6Mode !== 'routed') throw invalid(what, `ipv6Mode "${String(net.ipv6Mode)}" must be nat or routed`);
    v6.subnet6 = net.subnet6;
    v6.gateway6 = net.gateway6;
    v6.ipv6Mode = net.ipv6Mode ?? 'nat';
  }
  return {
    name: net.name,
    bridge: net.bridge,
    subnet: `${formatIPv4(cidr.network)}/${cidr.prefix}`,
    gateway: formatIPv4(gw),
    nat: net.nat,
    ...v6,
  };
}

/** Several networks: each valid, and no two sharing a name or a bridge. */
export function validateNetworks(nets: readonly FirewallNetwork[], what: string): FirewallNetwork[] {
  const out = nets.map((n) => validateNetwork(n, what));
  const names = new Set<string>();
  const bridges = new Set<string>();
  for (const n of out) {
    if (names.has(n.name)) throw invalid(what, `network "${n.name}" is listed twice`);
    if (bridges.has(n.bridge)) throw invalid(what, `bridge "${n.bridge}" belongs to two networks`);
    names.add(n.name);
    bridges.add(n.bridge);
  }
  return out;
}

/** Host ports the policy keeps open, as rules; "tcp/22" -> "tcp dport 22 accept". */
function allowRules(allow: readonly string[], what: string): string[] {
  const rules: string[] = [];
  for (const entry of allow) {
    const m = typeof entry === 'string' ? ALLOW_ENTRY.exec(entry) : null;
    const from = m ? Number(m[2]) : NaN;
    const to = m && m[3] !== undefined ? Number(m[3]) : from;
    if (!m || from < 1 || to > 65535 || to < from) {
      throw invalid(what, `host allow entry "${String(entry)}" must look like tcp/22, udp/53 or tcp/8000-8080 (ports 1-65535)`);
    }
    const rule = `${m[1]} dport ${from === to ? `${from}` : `${from}-${to}`} accept`;
    if (!rules.includes(rule)) rules.push(rule);
  }
  return rules;
}

export function validatePolicy(policy: HostInputPolicy, what = 'set up firewall base'): HostInputPolicy {
  if (policy.policy !== 'drop' && policy.policy !== 'accept') {
    throw invalid(what, `host input policy "${String(policy.policy)}" must be drop or accept`);
  }
  if (!Array.isArray(policy.allow)) throw invalid(what, 'host allow list must be a list such as ["tcp/22"]');
  allowRules(policy.allow, what);
  return { policy: policy.policy, allow: [...policy.allow] };
}

// ---------------------------------------------------------------------------
// The model.

export function netChainOut(name: string): string {
  return `net-${name}-out`;
}

export function netChainIn(name: string): string {
  return `net-${name}-in`;
}

const quote = (ifname: string): string => `"${ifname}"`;

/**
 * IPv6 only on dual-stack networks: no IPv6 packet is forwarded from or to
 * the bridge of an IPv4-only network (between two of its ports too, which
 * br_netfilter hands to this hook), nor delivered from one to the host.
 * Bridges of networks with subnet6 are in `bridges6` and pass; their IPv6 is
 * then judged like IPv4 (network chains, rules, policies). Deliberate, not a
 * side effect of IPv4-only rules: see docs/firewall.md, "IPv6".
 */
export const V6_CLOSED_COMMENT = 'comment "IPv6 is closed on IPv4-only networks"';
export const IPV6_CLOSED = {
  from: `iifname @${SET_NAME.bridges} iifname != @${SET_NAME.bridges6} meta nfproto ipv6 drop ${V6_CLOSED_COMMENT}`,
  to: `oifname @${SET_NAME.bridges} oifname != @${SET_NAME.bridges6} meta nfproto ipv6 drop ${V6_CLOSED_COMMENT}`,
} as const;

/**
 * Neighbour discovery between the workloads of a dual-stack network, and
 * with its gateway, before user rules and policies. Where br_netfilter hands
 * bridged IPv6 to these hooks (on while policies or rules need it), NS and NA
 * between two ports of one bridge pass `volt-forward`; they are not
 * conntrack-related, so without this an isolating policy or a rule dropping
 * a workload's traffic would drop its neighbour advertisements too: the
 * workload resolves no neighbour and every IPv6 connection it makes fails,
 * where IPv4 (ARP is not IP) still works. Hop limit 255: neighbour discovery
 * is never routed (RFC 4861 receivers drop anything else). After
 * IPV6_CLOSED, so IPv4-only networks stay closed.
 */
export const ND6_OPEN = `iifname @${SET_NAME.bridges6} icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept comment "neighbour discovery on dual-stack networks"`;

/**
 * IPv6 closed at layer 2, independent of br_netfilter: `table bridge volt`.
 * Frames switched between two ports of a bridge, or between a port and the
 * host, pass the bridge family's hooks whatever
 * net.bridge.bridge-nf-call-ip6tables says (a per-namespace sysctl), and so
 * do IPv6 frames inside 802.1Q / 802.1ad tags, which br_netfilter does not
 * hand to the IPv6 hooks at all by default (bridge-nf-filter-vlan-tagged=0).
 *
 * The kernel's bridge family cannot name the bridge here (`meta ibrname`
 * needs CONFIG_NFT_BRIDGE_META, absent on these kernels: "Operation not
 * supported"), so the rules match the ports volt makes: container veths
 * (`vh` + 10 hex digits, host side) and VM TAPs (`tap-` + 10 hex digits).
 * Every workload frame has such a port on one side: workload to workload,
 * workload to host (input), host to workload (output), VLAN uplink to
 * workload (the workload's port is the output port).
 */
export const BRIDGE_FAMILY = 'bridge';
const BT = `${BRIDGE_FAMILY} ${TABLE}`;

/** Name patterns of the bridge ports volt creates for workloads (workload-service.ts: vethHostName, tapName). */
export const WORKLOAD_PORTS: readonly string[] = ['vh*', 'tap-*'];

export const BRIDGE_CHAIN = {
  forward: 'volt-forward',
  input: 'volt-input',
  output: 'volt-output',
  ipv6: 'ipv6-closed',
} as const;

/** Set of table bridge volt: the ports of workloads on dual-stack networks, where IPv6 is open. */
export const PORTS6_SET = 'ports6';

const V4_ONLY = 'comment "IPv6 is closed on IPv4-only networks"';

/** What `ipv6-closed` drops: untagged IPv6, and IPv6 in one or two VLAN tags. */
export const IPV6_FRAMES: readonly string[] = [
  `ether type ip6 drop ${V4_ONLY}`,
  `ether type 8021q vlan type ip6 drop ${V4_ONLY}`,
  `ether type 8021ad vlan type ip6 drop ${V4_ONLY}`,
  `ether type 8021ad vlan type 8021q vlan type ip6 drop ${V4_ONLY}`,
];

const BRIDGE_HOOK = (hook: 'forward' | 'input' | 'output'): BaseHook => ({ type: 'filter', hook, priority: 'filter', prio: -200, policy: 'accept' });

/**
 * The chains of `table bridge volt`; they do not change with networks or
 * workloads. Each side of a frame is checked on its own: a workload port that
 * is not in `ports6` (the ports of dual-stack networks, from the rule set)
 * sends and receives no IPv6, whatever the other side is. So a frame between
 * two ports of one dual-stack bridge (neighbour discovery and link-local
 * included) passes, a port taken out of `ports6` is closed both ways, and a
 * frame between a dual-stack port and a non-workload port (a VLAN uplink, the
 * host) passes on the workload's side alone.
 */
export function bridgeTableModel(ports6: readonly string[] = []): TableModel {
  const closed = (dir: 'iifname' | 'oifname'): string[] => WORKLOAD_PORTS.map((p) => `${dir} ${quote(p)} ${dir} != @${PORTS6_SET} jump ${BRIDGE_CHAIN.ipv6}`);
  return {
    chains: [
      { name: BRIDGE_CHAIN.forward, hook: BRIDGE_HOOK('forward'), rules: [...closed('iifname'), ...closed('oifname')] },
      { name: BRIDGE_CHAIN.input, hook: BRIDGE_HOOK('input'), rules: [...closed('iifname')] },
      { name: BRIDGE_CHAIN.output, hook: BRIDGE_HOOK('output'), rules: [...closed('oifname')] },
      { name: BRIDGE_CHAIN.ipv6, rules: [...IPV6_FRAMES] },
    ],
    sets: [{ kind: 'set', name: PORTS6_SET, type: 'ifname', flags: [], owner: 'rules', label: 'dual-stack workload ports' }],
    elements: [...new Set(ports6)].sort().map((p) => ({ set: PORTS6_SET, key: quote(p), label: `dual-stack workload port ${p}` })),
    absent: [],
  };
}

/** Element changes of `ports6` between two rule sets (the table itself stays). */
export function ports6DiffLines(prev: readonly string[] = [], next: readonly string[] = []): string[] {
  const p = new Set(prev);
  const n = new Set(next);
  const add = [...n].filter((x) => !p.has(x)).sort().map(quote);
  const del = [...p].filter((x) => !n.has(x)).sort().map(quote);
  const lines: string[] = [];
  if (add.length > 0) lines.push(`add element ${BT} ${PORTS6_SET} { ${add.join(', ')} }`);
  if (del.length > 0) lines.push(`delete element ${BT} ${PORTS6_SET} { ${del.join(', ')} }`);
  return lines;
}

/** Replace the elements of `ports6` whatever is there (the set is made if an older volt's table lacks it). */
export function ports6Lines(ports6: readonly string[]): string[] {
  const lines = [`add table ${BT}`, `add set ${BT} ${PORTS6_SET} { type ifname; }`, `flush set ${BT} ${PORTS6_SET}`];
  const keys = [...new Set(ports6)].sort().map(quote);
  if (keys.length > 0) lines.push(`add element ${BT} ${PORTS6_SET} { ${keys.join(', ')} }`);
  return lines;
}


/**
 * (Re)create `table bridge volt` exactly: added, deleted and added again in
 * the caller's transaction, so chains re-hooked or rules added by hand go and
 * there is no moment without the rules (the transaction is atomic).
 */
export function bridgeTableLines(ports6: readonly string[] = []): string[] {
  const m = bridgeTableModel(ports6);
  const lines = [`add table ${BT}`, `delete table ${BT}`, `add table ${BT}`];
  for (const s of m.sets) lines.push(`add set ${BT} ${s.name} { type ${s.type}; }`);
  if (m.elements.length > 0) lines.push(`add element ${BT} ${PORTS6_SET} { ${m.elements.map((e) => e.key).join(', ')} }`);
  for (const c of m.chains) lines.push(`add chain ${BT} ${c.name} { ${c.hook ? hookSpec(c.hook) : ''} }`);
  for (const c of m.chains) lines.push(...c.rules.map((r) => `add rule ${BT} ${c.name} ${r}`));
  return lines;
}

/**
 * The base chains. With `hooks` (volt manages user rules, forwards and
 * policies) they also jump to the overlay and DNAT port forwards; see
 * overlay.ts. Without, they are exactly the default policy.
 */
export function baseChains(policy: HostInputPolicy, hooks = false): ChainModel[] {
  const input: string[] = [
    'ct state established,related accept',
    'iif "lo" accept',
    IPV6_CLOSED.from,
    ND6_OPEN,
    ...(hooks ? BASE_HOOKS.input : []),
    // Traffic from a volt bridge is judged by its network's chain and never
    // reaches the host policy; a bridge without a map entry is dropped.
    `iifname vmap @${SET_NAME.inputFrom}`,
    `iifname @${SET_NAME.bridges} drop`,
  ];
  if (policy.policy === 'drop') {
    input.push(
      // Without neighbour discovery and DHCP replies the host loses its own
      // IPv6 neighbours and its uplink lease; these are not conntrack-related.
      'icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept',
      'udp sport 67 udp dport 68 accept',
      'ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept',
      ...allowRules(policy.allow, 'set up firewall base'),
      'drop',
    );
  } else {
    input.push('accept');
  }
  const forward = [
    'ct state established,related accept',
    IPV6_CLOSED.from,
    IPV6_CLOSED.to,
    ND6_OPEN,
    ...(hooks ? BASE_HOOKS.forward : []),
    `iifname vmap @${SET_NAME.forwardFrom}`,
    `iifname @${SET_NAME.bridges} drop`,
    // New connections from outside into a network: only port forwards (DNAT).
    `oifname @${SET_NAME.bridges} ct status dnat accept`,
    `oifname @${SET_NAME.bridges} drop`,
    // Everything else is not volt's traffic: the chain's policy accepts it.
  ];
  const natPost = [
    ...(hooks ? BASE_HOOKS.natPost : []),
    `ip saddr @${SET_NAME.natSubnets} oifname != @${SET_NAME.bridges} oifname != "lo" masquerade`,
    // NAT66 for dual-stack networks in nat mode (routed ones are not in the set).
    `ip6 saddr @${SET_NAME.natSubnets6} oifname != @${SET_NAME.bridges} oifname != "lo" masquerade`,
  ];
  const chains: ChainModel[] = [
    { name: BASE_CHAIN.input, hook: HOOKS.input, rules: input },
    { name: BASE_CHAIN.forward, hook: HOOKS.forward, rules: forward },
    { name: BASE_CHAIN.natPre, hook: HOOKS.natPre, rules: hooks ? [...BASE_HOOKS.natPre] : [] },
    { name: BASE_CHAIN.natPost, hook: HOOKS.natPost, rules: natPost },
  ];
  if (hooks) chains.push({ name: OVERLAY_CHAIN.natOut, hook: { ...NAT_OUT_HOOK }, rules: [...BASE_HOOKS.natPre] });
  return chains;
}

/** Chains and set elements of one (validated) network. */
export function networkModel(net: FirewallNetwork): NetworkModel {
  const out: ChainModel = {
    name: netChainOut(net.name),
    network: net.name,
    rules: [
      // Routed traffic back into the same bridge (hairpin, or br_netfilter on).
      `oifname ${quote(net.bridge)} accept`,
      `oifname @${SET_NAME.bridges} drop`,
      // Leaving the host: only networks with NAT have outbound connectivity.
      net.nat ? 'accept' : 'drop',
    ],
  };
  const gw = net.gateway;
  const gw6 = net.subnet6 === undefined ? undefined : net.gateway6;
  const inbound: ChainModel = {
    name: netChainIn(net.name),
    network: net.name,
    rules: [
      `ip daddr ${gw} udp dport 53 accept`,
      `ip daddr ${gw} tcp dport 53 accept`,
      // DHCP requests go to 255.255.255.255 before the client has an address.
      'udp dport 67 accept',
      `ip daddr ${gw} icmp type echo-request accept`,
      ...(gw6 === undefined
        ? []
        : [
            `ip6 daddr ${gw6} udp dport 53 accept`,
            `ip6 daddr ${gw6} tcp dport 53 accept`,
            // Neighbour discovery with the gateway, router solicitations, DHCPv6 (to ff02::1:2).
            'icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept',
            'udp dport 547 accept',
            `ip6 daddr ${gw6} icmpv6 type echo-request accept`,
          ]),
      'drop',
    ],
  };
  const subnet: ElementModel = { set: SET_NAME.natSubnets, key: net.subnet, network: net.name };
  const elements: ElementModel[] = [
    { set: SET_NAME.bridges, key: quote(net.bridge), network: net.name },
    { set: SET_NAME.forwardFrom, key: quote(net.bridge), value: `jump ${out.name}`, network: net.name },
    { set: SET_NAME.inputFrom, key: quote(net.bridge), value: `jump ${inbound.name}`, network: net.name },
    ...(net.nat ? [subnet] : []),
  ];
  const absent: ElementModel[] = net.nat ? [] : [subnet];
  // IPv6: open on the bridge of a dual-stack network only; NAT66 unless routed or --no-nat.
  const bridge6: ElementModel = { set: SET_NAME.bridges6, key: quote(net.bridge), network: net.name };
  if (net.subnet6 !== undefined) elements.push(bridge6);
  else absent.push(bridge6);
  if (net.subnet6 !== undefined) {
    const subnet6: ElementModel = { set: SET_NAME.natSubnets6, key: net.subnet6, network: net.name };
    if (net.nat && net.ipv6Mode !== 'routed') elements.push(subnet6);
    else absent.push(subnet6);
  }
  return { net, chains: [out, inbound], elements, absent };
}

/**
 * Everything that should be in the table for this policy and these networks,
 * and, given `rules`, the overlay with exactly those user rules, port forwards
 * and policies.
 */
export function tableModel(policy: HostInputPolicy, nets: readonly FirewallNetwork[], rules?: FirewallRuleSet): TableModel {
  const models = nets.map(networkModel);
  const overlay = rules === undefined ? undefined : overlayModel(rules);
  return {
    chains: [...baseChains(policy, rules !== undefined), ...models.flatMap((m) => m.chains), ...(overlay?.chains ?? [])],
    sets: [...SETS, ...(overlay?.sets ?? [])],
    elements: [...models.flatMap((m) => m.elements), ...(overlay?.elements ?? [])],
    absent: models.flatMap((m) => m.absent),
  };
}

// ---------------------------------------------------------------------------
// Scripts. Each is applied as one `nft -f -` transaction: all or nothing.

export function hookSpec(h: BaseHook): string {
  return `type ${h.type} hook ${h.hook} priority ${h.priority}; policy ${h.policy};`;
}

export function elementText(e: ElementModel): string {
  return e.value === undefined ? e.key : `${e.key} : ${e.value}`;
}

function setDeclaration(s: SetModel): string {
  const type = s.map ? `type ${s.type} : ${s.map};` : `type ${s.type};`;
  const flags = s.flags.length > 0 ? ` flags ${s.flags.join(',')};` : '';
  return `add ${s.kind} ${T} ${s.name} { ${type}${flags} }`;
}

/** Table, sets and maps; `add` of an identical object is a no-op. */
function declarations(): string[] {
  return [`add table ${T}`, ...SETS.map(setDeclaration)];
}

/** Replace an element whatever its current value: add (no-op if present), delete, add. */
function replaceElement(e: ElementModel): string[] {
  const add = `add element ${T} ${e.set} { ${elementText(e)} }`;
  return [add, `delete element ${T} ${e.set} { ${e.key} }`, add];
}

/** Remove an element whether or not it is there: add, then delete. */
function removeElement(e: ElementModel): string[] {
  return [`add element ${T} ${e.set} { ${elementText(e)} }`, `delete element ${T} ${e.set} { ${e.key} }`];
}

function fillChain(c: ChainModel): string[] {
  return [`flush chain ${T} ${c.name}`, ...c.rules.map((r) => `add rule ${T} ${c.name} ${r}`)];
}

const script = (lines: string[]): string => `${lines.join('\n')}\n`;

/**
 * Table, sets, base chains and their rules. `rebuild` names base chains that
 * exist with another type, hook or priority: they are deleted and re-created
 * (an existing chain's hook cannot be changed in place). Set elements are
 * kept, so networks stay registered.
 */
export function setupBaseScript(
  policy: HostInputPolicy,
  rebuild: readonly string[] = [],
  rules?: FirewallRuleSet,
  present: OverlayListing = { chains: [], sets: [] },
): string {
  const chains = baseChains(validatePolicy(policy), rules !== undefined);
  const lines = declarations();
  for (const c of chains) {
    if (rebuild.includes(c.name)) lines.push(`add chain ${T} ${c.name}`, `flush chain ${T} ${c.name}`, `delete chain ${T} ${c.name}`);
    // `add` of an existing base chain updates its policy.
    lines.push(`add chain ${T} ${c.name} { ${c.hook ? hookSpec(c.hook) : ''} }`);
  }
  lines.push(...bridgeTableLines(rules?.ports6 ?? []));
  if (rules === undefined) {
    for (const c of chains) lines.push(...fillChain(c));
    return script(lines);
  }
  // The overlay's chains and sets exist before the base chains refer to them.
  const overlay = overlayModel(validateRuleSet(rules, 'set up firewall base'));
  const { build, cleanup } = replaceOverlay(overlay, present);
  lines.push(...build);
  for (const c of chains) lines.push(...fillChain(c));
  lines.push(...cleanup);
  return script(lines);
}

/** Delete the table and everything in it; absent is success (add first). */
export function teardownBaseScript(): string {
  return script([`add table ${T}`, `delete table ${T}`, `add table ${BT}`, `delete table ${BT}`]);
}

export function setupNetworkScript(net: FirewallNetwork): string {
  const m = networkModel(validateNetwork(net, `set up firewall for network "${String(net.name)}"`));
  const lines = declarations();
  for (const c of m.chains) lines.push(`add chain ${T} ${c.name}`);
  for (const c of m.chains) lines.push(...fillChain(c));
  for (const e of m.elements) lines.push(...replaceElement(e));
  for (const e of m.absent) lines.push(...removeElement(e));
  return script(lines);
}

/**
 * Undo setupNetwork. Every step tolerates absence: the chains are added before
 * they are deleted, elements added before they are deleted. The subnet leaves
 * nat_subnets whatever the network's NAT setting.
 */
export function teardownNetworkScript(net: FirewallNetwork): string {
  const m = networkModel(validateNetwork(net, `tear down firewall for network "${String(net.name)}"`));
  const lines = declarations();
  for (const c of m.chains) lines.push(`add chain ${T} ${c.name}`);
  for (const e of [...m.elements, ...m.absent]) lines.push(...removeElement(e));
  for (const c of m.chains) lines.push(`flush chain ${T} ${c.name}`, `delete chain ${T} ${c.name}`);
  return script(lines);
}
