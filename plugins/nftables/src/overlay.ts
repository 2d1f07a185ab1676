import { createHash } from 'node:crypto';
import { UserInputError } from '@volt/sdk';
import type {
  FirewallAddressMatch,
  FirewallNetwork,
  FirewallPolicy,
  FirewallPortForward,
  FirewallRuleSet,
  FirewallUserRule,
} from '@volt/sdk';
import type { ChainModel, ElementModel, SetModel } from './ruleset';
import { formatCidr, networkAddress, parseCidr, parseIPv4 } from '@volt/sdk/net';
import { isCidr6, isIpv6, normCidr6 } from './ip6';

/**
 * User rules, port forwards and policies on top of the default policy ("the
 * overlay"), as plain data and as `nft -f` scripts. Pure, like ruleset.ts.
 *
 * Shape (all in table inet volt):
 *   chains  volt-fw-input / volt-fw-forward   dispatch: `jump` to buckets in order
 *           fwi-<n> / fwf-<n>                  buckets of user rules (first match wins)
 *           volt-policy                        policies: constant rules over sets
 *           volt-nat-out                       base chain (nat output): DNAT for the host's own connections
 *   sets    pol_isolated, pol_{deny,allow}_{sdpp,sdp,sd,dpp,dp,d}   keyed by address (+proto, +port)
 *           pf_addr, pf_port (maps)            port forwards: [host ip .] proto . port : target ip . port
 *           hairpin                            subnet . bridge of networks with workloads (masquerade)
 *           wl-<group>                         a workload's addresses, named by rules
 *   IPv6    pol_isolated6, pol6_*, pf_addr6, pf_port6, hairpin6, wl6-<group>: the same for IPv6
 *           addresses (an nft set holds one family); a rule naming a workload becomes one
 *           kernel rule per family, a policy's elements go to the sets of their family.
 *
 * Why buckets: rules are ordered, so they live in chains; a rule is deleted
 * by rebuilding only its bucket (at most BUCKET_SPAN worth of orders), and
 * appending a rule appends to the last bucket. No change needs the kernel's
 * rule handles or a listing, and the cost of a change does not grow with the
 * number of rules. Policies never add rules, only set elements.
 */

export const OVERLAY_CHAIN = {
  fwInput: 'volt-fw-input',
  fwForward: 'volt-fw-forward',
  policy: 'volt-policy',
  natOut: 'volt-nat-out',
} as const;

export const OVERLAY_SET = {
  isolated: 'pol_isolated',
  pfAddr: 'pf_addr',
  pfPort: 'pf_port',
  hairpin: 'hairpin',
  isolated6: 'pol_isolated6',
  pfAddr6: 'pf_addr6',
  pfPort6: 'pf_port6',
  hairpin6: 'hairpin6',
} as const;

type Fam = 4 | 6;

/** Orders in [n * BUCKET_SPAN, (n + 1) * BUCKET_SPAN) share bucket n (core spaces orders by 1024: 64 rules). */
export const BUCKET_SPAN = 65536;

const COMMENT_PREFIX = 'volt:';

type Shape = 'sdpp' | 'sdp' | 'sd' | 'dpp' | 'dp' | 'd';
const SHAPES: readonly Shape[] = ['sdpp', 'sdp', 'sd', 'dpp', 'dp', 'd'];
const SHAPE_TYPE: Record<Shape, string> = {
  sdpp: 'ipv4_addr . ipv4_addr . inet_proto . inet_service',
  sdp: 'ipv4_addr . ipv4_addr . inet_proto',
  sd: 'ipv4_addr . ipv4_addr',
  dpp: 'ipv4_addr . inet_proto . inet_service',
  dp: 'ipv4_addr . inet_proto',
  d: 'ipv4_addr',
};
const SHAPE_KEY: Record<Shape, string> = {
  sdpp: 'ip saddr . ip daddr . meta l4proto . th dport',
  sdp: 'ip saddr . ip daddr . meta l4proto',
  sd: 'ip saddr . ip daddr',
  dpp: 'ip daddr . meta l4proto . th dport',
  dp: 'ip daddr . meta l4proto',
  d: 'ip daddr',
};

const v6Type = (t: string): string => t.replace(/ipv4_addr/g, 'ipv6_addr');
const v6Key = (k: string): string => k.replace(/\bip (saddr|daddr)/g, 'ip6 $1');

export function policySet(action: 'allow' | 'deny', shape: Shape, fam: Fam = 4): string {
  return fam === 4 ? `pol_${action}_${shape}` : `pol6_${action}_${shape}`;
}

/** The fixed sets and maps of the overlay (group sets come and go with rules). */
export const OVERLAY_SETS: readonly SetModel[] = [
  { kind: 'set', name: OVERLAY_SET.isolated, type: 'ipv4_addr', flags: [], owner: 'rules' },
  ...(['deny', 'allow'] as const).flatMap((a) =>
    SHAPES.map((s): SetModel => ({ kind: 'set', name: policySet(a, s), type: SHAPE_TYPE[s], flags: [], owner: 'rules' })),
  ),
  { kind: 'map', name: OVERLAY_SET.pfAddr, type: 'ipv4_addr . inet_proto . inet_service', map: 'ipv4_addr . inet_service', flags: [], owner: 'rules' },
  { kind: 'map', name: OVERLAY_SET.pfPort, type: 'inet_proto . inet_service', map: 'ipv4_addr . inet_service', flags: [], owner: 'rules' },
  { kind: 'set', name: OVERLAY_SET.hairpin, type: 'ipv4_addr . ifname', flags: ['interval'], owner: 'rules' },
  { kind: 'set', name: OVERLAY_SET.isolated6, type: 'ipv6_addr', flags: [], owner: 'rules' },
  ...(['deny', 'allow'] as const).flatMap((a) =>
    SHAPES.map((s): SetModel => ({ kind: 'set', name: policySet(a, s, 6), type: v6Type(SHAPE_TYPE[s]), flags: [], owner: 'rules' })),
  ),
  { kind: 'map', name: OVERLAY_SET.pfAddr6, type: 'ipv6_addr . inet_proto . inet_service', map: 'ipv6_addr . inet_service', flags: [], owner: 'rules' },
  { kind: 'map', name: OVERLAY_SET.pfPort6, type: 'inet_proto . inet_service', map: 'ipv6_addr . inet_service', flags: [], owner: 'rules' },
  { kind: 'set', name: OVERLAY_SET.hairpin6, type: 'ipv6_addr . ifname', flags: ['interval'], owner: 'rules' },
];

/** Rules the base chains get when the overlay is present, keyed by base chain. */
export const BASE_HOOKS = {
  /** After `iif "lo" accept`. */
  input: [
    // route_localnet (port forwards reached on 127.0.0.1) must not open the host's loopback services to workloads.
    'iifname @bridges ip daddr 127.0.0.0/8 drop',
    `jump ${OVERLAY_CHAIN.fwInput}`,
  ],
  /** After `ct state established,related accept`. */
  forward: ['iifname @bridges ip saddr 127.0.0.0/8 drop', `jump ${OVERLAY_CHAIN.fwForward}`, `iifname @bridges jump ${OVERLAY_CHAIN.policy}`],
  natPre: [
    `fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @${OVERLAY_SET.pfAddr}`,
    `fib daddr type local dnat ip to meta l4proto . th dport map @${OVERLAY_SET.pfPort}`,
    // IPv6 (the kernel's inet nat applies `dnat ip6` to IPv6 packets only, and `dnat ip` to IPv4 only).
    `fib daddr type local dnat ip6 to ip6 daddr . meta l4proto . th dport map @${OVERLAY_SET.pfAddr6}`,
    `fib daddr type local dnat ip6 to meta l4proto . th dport map @${OVERLAY_SET.pfPort6}`,
  ],
  /** Before the masquerade of outbound traffic. */
  natPost: [
    // Hairpin: a workload reaching a forward to its own network would get the reply straight from the target.
    `ct status dnat ip saddr . oifname @${OVERLAY_SET.hairpin} masquerade`,
    `ct status dnat ip6 saddr . oifname @${OVERLAY_SET.hairpin6} masquerade`,
    // The host's own connections to 127.0.0.1:PORT leave through a bridge (with route_localnet on it).
    'ip saddr 127.0.0.0/8 oifname @bridges masquerade',
  ],
} as const;

/** The nat output base chain: the host's own connections to a forwarded port. Priority -100 is dstnat. */
export const NAT_OUT_HOOK = { type: 'nat', hook: 'output', priority: '-100', prio: -100, policy: 'accept' } as const;

export interface OverlayModel {
  /** Regular chains, in creation order; dispatch chains last so their targets exist first. */
  chains: ChainModel[];
  sets: SetModel[];
  elements: ElementModel[];
}

// ---------------------------------------------------------------------------
// Validation: everything that reaches a script is checked.

const RULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const GROUP_ID = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,126}$/;

function invalid(what: string, why: string): UserInputError {
  return new UserInputError(`${what}: ${why}`, { code: 'E_FIREWALL_INPUT' });
}

function ipv4(text: unknown): boolean {
  return typeof text === 'string' && parseIPv4(text) !== undefined;
}

/** An IPv4 address, or an IPv4 address with a prefix length 0-32. */
function cidr(text: unknown): boolean {
  return typeof text === 'string' && (parseIPv4(text) !== undefined || parseCidr(text) !== undefined);
}

/** 4, 6, or undefined when the text is neither family's address. */
function famOf(text: unknown): Fam | undefined {
  return ipv4(text) ? 4 : isIpv6(text) ? 6 : undefined;
}

function cidrFam(text: string): Fam {
  return text.includes(':') ? 6 : 4;
}

/** The families a rule's kernel rules cover: one when an address or subnet names it, else both (or none needed). */
export function ruleFamilies(r: Pick<FirewallUserRule, 'source' | 'dest'>): Fam[] {
  const fams = new Set<Fam>();
  for (const m of [r.source, r.dest]) if (m.kind === 'cidr') fams.add(cidrFam(m.cidr));
  return fams.size > 0 ? [...fams] : [4, 6];
}

/** Rule objects already checked: a change validates the rule sets before and after it, which share most rules. */
const validRules = new WeakSet<FirewallUserRule>();

function port(n: unknown): boolean {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** Check one user rule before it is rendered into a script. */
export function checkRule(r: FirewallUserRule, what = 'apply firewall rules'): void {
  if (validRules.has(r)) return;
  const label = `${what}: rule "${String(r.name)}"`;
  if (typeof r.name !== 'string' || !RULE_NAME.test(r.name)) throw invalid(label, 'the name must be 1-63 letters, digits, ".", "_" or "-"');
  if (r.chain !== 'input' && r.chain !== 'forward') throw invalid(label, `chain "${String(r.chain)}" must be input or forward`);
  if (!Number.isSafeInteger(r.order) || r.order < 0) throw invalid(label, `order ${String(r.order)} is not a non-negative integer`);
  checkMatch(r.source, label);
  checkMatch(r.dest, label);
  if (r.source.kind === 'cidr' && r.dest.kind === 'cidr' && cidrFam(r.source.cidr) !== cidrFam(r.dest.cidr)) throw invalid(label, 'source and destination are addresses of different families (IPv4 and IPv6)');
  if (r.proto !== 'tcp' && r.proto !== 'udp' && r.proto !== 'icmp' && r.proto !== 'any') throw invalid(label, `protocol "${String(r.proto)}" must be tcp, udp, icmp or any`);
  if (r.proto === 'icmp' && r.ports.length > 0) throw invalid(label, 'icmp has no ports');
  for (const p of r.ports) if (!port(p.from) || !port(p.to) || p.to < p.from) throw invalid(label, `port range ${String(p.from)}-${String(p.to)} is not within 1-65535`);
  if (r.inBridge !== undefined && !IFNAME.test(r.inBridge)) throw invalid(label, `bridge "${String(r.inBridge)}" is not an interface name`);
  if (r.action !== 'accept' && r.action !== 'drop' && r.action !== 'reject') throw invalid(label, `action "${String(r.action)}" must be accept, drop or reject`);
  validRules.add(r);
}

/**
 * Check a rule set as it arrives from core (groups, forwards, policies,
 * networks); throws E_FIREWALL_INPUT naming the first bad field. User rules
 * are checked when they are rendered (checkRule), so a change that touches
 * one rule of ten thousand checks one.
 */
export function validateRuleSet(rs: FirewallRuleSet, what: string): FirewallRuleSet {
  for (const [id, addrs] of Object.entries(rs.groups)) {
    if (!GROUP_ID.test(id)) throw invalid(what, `address group "${id}" has an invalid name`);
    for (const a of addrs) if (famOf(a) === undefined) throw invalid(what, `address group "${id}": "${String(a)}" is not an IPv4 or IPv6 address`);
  }
  for (const f of rs.forwards) {
    const label = `${what}: port forward ${String(f.proto)}/${String(f.hostPort)}`;
    if (f.proto !== 'tcp' && f.proto !== 'udp') throw invalid(label, 'protocol must be tcp or udp');
    if (!port(f.hostPort) || !port(f.targetPort)) throw invalid(label, 'ports must be within 1-65535');
    if (f.hostIp !== undefined && famOf(f.hostIp) === undefined) throw invalid(label, `host address "${String(f.hostIp)}" is not an IPv4 or IPv6 address`);
    if (f.targetIp !== undefined && !ipv4(f.targetIp)) throw invalid(label, `target address "${String(f.targetIp)}" is not IPv4`);
    if (f.targetIp6 !== undefined && !isIpv6(f.targetIp6)) throw invalid(label, `target address "${String(f.targetIp6)}" is not IPv6`);
  }
  for (const p of rs.policies) {
    const label = `${what}: policy "${String(p.name)}"`;
    if (typeof p.name !== 'string' || !RULE_NAME.test(p.name)) throw invalid(label, 'the name must be 1-63 letters, digits, ".", "_" or "-"');
    if (p.from.kind === 'addresses') for (const a of p.from.addresses) if (famOf(a) === undefined) throw invalid(label, `"${String(a)}" is not an IPv4 or IPv6 address`);
    for (const a of p.to) if (famOf(a) === undefined) throw invalid(label, `"${String(a)}" is not an IPv4 or IPv6 address`);
    if (!['tcp', 'udp', 'icmp', 'any'].includes(p.proto)) throw invalid(label, `protocol "${String(p.proto)}" must be tcp, udp, icmp or any`);
    if (p.proto === 'icmp' && p.ports.length > 0) throw invalid(label, 'icmp has no ports');
    for (const n of p.ports) if (!port(n)) throw invalid(label, `port ${String(n)} is not within 1-65535`);
    if (p.action !== 'allow' && p.action !== 'deny') throw invalid(label, `action "${String(p.action)}" must be allow or deny`);
  }
  for (const n of rs.networks) {
    if (!IFNAME.test(n.bridge)) throw invalid(what, `bridge "${String(n.bridge)}" is not an interface name`);
    if (!cidr(n.subnet)) throw invalid(what, `subnet "${String(n.subnet)}" is not IPv4`);
    if (n.subnet6 !== undefined && !isCidr6(n.subnet6)) throw invalid(what, `subnet6 "${String(n.subnet6)}" is not IPv6`);
  }
  if (rs.ports6 !== undefined) {
    if (!Array.isArray(rs.ports6)) throw invalid(what, 'ports6 must be a list of interface names');
    for (const p of rs.ports6) if (typeof p !== 'string' || !IFNAME.test(p)) throw invalid(what, `port "${String(p)}" is not an interface name`);
  }
  return rs;
}

function checkMatch(m: FirewallAddressMatch, label: string): void {
  if (m.kind === 'any') return;
  if (m.kind === 'cidr') {
    if (!cidr(m.cidr) && !isCidr6(m.cidr)) throw invalid(label, `"${String(m.cidr)}" is not an IPv4 or IPv6 address or subnet`);
    return;
  }
  // A group the set lacks is an empty set: it matches nothing. Its set name is always safe (groupSetName).
  if (m.kind === 'group') {
    if (!GROUP_ID.test(m.group)) throw invalid(label, `address group "${String(m.group)}" has an invalid name`);
    return;
  }
  throw invalid(label, 'unknown address match');
}

// ---------------------------------------------------------------------------
// The model.

/** The set holding a group's addresses: readable when the id allows, hashed otherwise. */
export function groupSetName(group: string, fam: Fam = 4): string {
  const prefix = fam === 4 ? 'wl-' : 'wl6-';
  if (/^[A-Za-z0-9_-]{1,40}$/.test(group)) return `${prefix}${group}`;
  return `${prefix}h${createHash('sha256').update(group).digest('hex').slice(0, 16)}`;
}

export function bucketOf(order: number): number {
  return Math.floor(order / BUCKET_SPAN);
}

export function bucketChain(chain: 'input' | 'forward', bucket: number): string {
  return `${chain === 'input' ? 'fwi' : 'fwf'}-${bucket}`;
}

const normCache = new Map<string, string>();

/** "10.0.0.0/24" stays, "10.0.0.5/32" becomes "10.0.0.5", host bits are cleared as nft does. */
function normCidr(text: string): string {
  let n = normCache.get(text);
  if (n === undefined) normCache.set(text, (n = normCidrFresh(text)));
  return n;
}

function normCidrFresh(text: string): string {
  if (text.includes(':')) return normCidr6(text);
  const c = parseCidr(text);
  if (c === undefined || c.prefix === 32) return text.split('/')[0] as string;
  return formatCidr(networkAddress(c), c.prefix);
}

function matchText(field: 'saddr' | 'daddr', m: FirewallAddressMatch, fam: Fam): string | undefined {
  if (m.kind === 'any') return undefined;
  const ip = fam === 4 ? 'ip' : 'ip6';
  if (m.kind === 'cidr') return `${ip} ${field} ${normCidr(m.cidr)}`;
  return `${ip} ${field} @${groupSetName(m.group, fam)}`;
}

const textCache = new WeakMap<FirewallUserRule, string[]>();

/** The kernel rules of one user rule, in `nft list` syntax (ports as separate rules: no anonymous sets). */
export function userRuleTexts(r: FirewallUserRule): string[] {
  let t = textCache.get(r);
  if (!t) textCache.set(r, (t = userRuleTextsFresh(r)));
  return t;
}

function userRuleTextsFresh(r: FirewallUserRule): string[] {
  checkRule(r);
  const fams = ruleFamilies(r);
  // Without an address match a kernel rule covers both families at once, except for ICMP (icmp / ipv6-icmp).
  const byAddress = r.source.kind !== 'any' || r.dest.kind !== 'any';
  const out: string[] = [];
  for (const fam of byAddress ? fams : [undefined]) {
    const head = [
      r.inBridge === undefined ? undefined : `iifname "${r.inBridge}"`,
      fam === undefined ? undefined : matchText('saddr', r.source, fam),
      fam === undefined ? undefined : matchText('daddr', r.dest, fam),
    ].filter((x): x is string => x !== undefined);
    out.push(...familyTexts(r, head, fam === undefined ? [4, 6] : [fam]));
  }
  return out;
}

function familyTexts(r: FirewallUserRule, head: readonly string[], fams: readonly Fam[]): string[] {
  const comment = `comment "${COMMENT_PREFIX}${r.name}"`;
  if (r.ports.length === 0) {
    if (r.proto === 'icmp') return fams.map((f) => [...head, `meta l4proto ${f === 4 ? 'icmp' : 'ipv6-icmp'}`, verdictText(r.action, r.proto), comment].join(' '));
    const proto = r.proto === 'any' ? [] : [`meta l4proto ${r.proto}`];
    return [[...head, ...proto, verdictText(r.action, r.proto), comment].join(' ')];
  }
  const protos: ('tcp' | 'udp')[] = r.proto === 'any' ? ['tcp', 'udp'] : [r.proto as 'tcp' | 'udp'];
  const out: string[] = [];
  for (const proto of protos) {
    for (const p of r.ports) {
      const ports = p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`;
      out.push([...head, `${proto} dport ${ports}`, verdictText(r.action, proto), comment].join(' '));
    }
  }
  return out;
}

/** TCP is refused with a reset (the client sees "connection refused"), the rest with ICMP port unreachable. */
function verdictText(action: FirewallUserRule['action'], proto: FirewallUserRule['proto']): string {
  if (action !== 'reject') return action;
  return proto === 'tcp' ? 'reject with tcp reset' : 'reject with icmpx port-unreachable';
}

/** The user rule a kernel rule text belongs to (from its comment), for drift messages. */
export function ruleNameOf(text: string): string | undefined {
  const m = / comment "volt:([^"]+)"$/.exec(text);
  return m ? m[1] : undefined;
}

function policyChain(): ChainModel {
  const deny = SHAPES.flatMap((s) => [`${SHAPE_KEY[s]} @${policySet('deny', s)} drop`, `${v6Key(SHAPE_KEY[s])} @${policySet('deny', s, 6)} drop`]);
  const allow = SHAPES.flatMap((s) => [`${SHAPE_KEY[s]} @${policySet('allow', s)} accept`, `${v6Key(SHAPE_KEY[s])} @${policySet('allow', s, 6)} accept`]);
  return {
    name: OVERLAY_CHAIN.policy,
    rules: [
      // A port forward is an explicit exposure; policies govern workload-to-workload traffic.
      'ct status dnat return',
      // Each address match applies to its own family only: an IPv4 packet skips the ip6 rules and back.
      `ip daddr != @${OVERLAY_SET.isolated} return`,
      `ip6 daddr != @${OVERLAY_SET.isolated6} return`,
      ...deny,
      ...allow,
      // The destination is isolated by a policy and none allows this.
      'drop',
    ],
  };
}

interface Owners {
  /** The first few policy names, for drift messages. */
  names: string[];
  count: number;
}

interface PolicyElements {
  /** set name → element text → the policies that produce it */
  bySet: Map<string, Map<string, Owners>>;
}

function addPolicyElement(acc: PolicyElements, set: string, key: string, policy: string): void {
  let m = acc.bySet.get(set);
  if (!m) acc.bySet.set(set, (m = new Map()));
  const owners = m.get(key);
  if (!owners) m.set(key, { names: [policy], count: 1 });
  else if (owners.names[owners.names.length - 1] !== policy) {
    // A policy adds a key once (its address lists are de-duplicated), so counting is enough.
    owners.count++;
    if (owners.names.length < 4) owners.names.push(policy);
  }
}

function policyElements(policies: readonly FirewallPolicy[]): PolicyElements {
  const acc: PolicyElements = { bySet: new Map() };
  for (const p of policies) {
    for (const d of p.to) addPolicyElement(acc, cidrFam(d) === 4 ? OVERLAY_SET.isolated : OVERLAY_SET.isolated6, d, p.name);
    const protos = p.ports.length > 0 ? (p.proto === 'any' ? ['tcp', 'udp'] : [p.proto]) : p.proto === 'any' ? [] : [p.proto];
    const sources = p.from.kind === 'any' ? [undefined] : p.from.addresses;
    for (const s of sources) {
      for (const d of p.to) {
        const fam = cidrFam(d);
        // Only pairs of one family: a packet has both addresses in the same one.
        if (s !== undefined && cidrFam(s) !== fam) continue;
        const prefix = s === undefined ? d : `${s} . ${d}`;
        const base = s === undefined ? '' : 's';
        const protoText = (proto: string): string => (proto === 'icmp' && fam === 6 ? 'ipv6-icmp' : proto);
        if (p.ports.length > 0) {
          for (const proto of protos) for (const n of p.ports) addPolicyElement(acc, policySet(p.action, `${base}dpp` as Shape, fam), `${prefix} . ${proto} . ${n}`, p.name);
        } else if (protos.length > 0) {
          for (const proto of protos) addPolicyElement(acc, policySet(p.action, `${base}dp` as Shape, fam), `${prefix} . ${protoText(proto)}`, p.name);
        } else {
          addPolicyElement(acc, policySet(p.action, `${base}d` as Shape, fam), prefix, p.name);
        }
      }
    }
  }
  return acc;
}

function forwardElements(forwards: readonly FirewallPortForward[]): ElementModel[] {
  const out: ElementModel[] = [];
  for (const f of forwards) {
    const label = `port forward ${f.hostIp ? `${f.hostIp.includes(':') ? `[${f.hostIp}]` : f.hostIp}:` : ''}${f.hostPort}/${f.proto}`;
    const host6 = f.hostIp !== undefined && f.hostIp.includes(':');
    // A host address names one family; without one, each family of the target is forwarded.
    if (f.targetIp !== undefined && !host6) {
      const value = `${f.targetIp} . ${f.targetPort}`;
      if (f.hostIp === undefined) out.push({ set: OVERLAY_SET.pfPort, key: `${f.proto} . ${f.hostPort}`, value, label });
      else out.push({ set: OVERLAY_SET.pfAddr, key: `${f.hostIp} . ${f.proto} . ${f.hostPort}`, value, label });
    }
    if (f.targetIp6 !== undefined && (f.hostIp === undefined || host6)) {
      const value = `${f.targetIp6} . ${f.targetPort}`;
      if (f.hostIp === undefined) out.push({ set: OVERLAY_SET.pfPort6, key: `${f.proto} . ${f.hostPort}`, value, label });
      else out.push({ set: OVERLAY_SET.pfAddr6, key: `${f.hostIp} . ${f.proto} . ${f.hostPort}`, value, label });
    }
  }
  return out;
}

function hairpinElements(forwards: readonly FirewallPortForward[], nets: readonly FirewallNetwork[]): ElementModel[] {
  if (forwards.length === 0) return [];
  const out: ElementModel[] = nets.map((n) => ({ set: OVERLAY_SET.hairpin, key: `${normCidr(n.subnet)} . "${n.bridge}"`, network: n.name, label: `network "${n.name}"` }));
  for (const n of nets) if (n.subnet6 !== undefined) out.push({ set: OVERLAY_SET.hairpin6, key: `${n.subnet6} . "${n.bridge}"`, network: n.name, label: `network "${n.name}"` });
  return out;
}

interface Bucket {
  name: string;
  chain: 'input' | 'forward';
  bucket: number;
  rules: FirewallUserRule[];
}

/** User rules grouped into their bucket chains, buckets in order, rules in order. */
function bucketsOf(rs: FirewallRuleSet): Bucket[] {
  const buckets = new Map<number, Bucket>();
  for (const r of rs.rules) {
    const bucket = Math.floor(r.order / BUCKET_SPAN);
    const id = bucket * 2 + (r.chain === 'input' ? 0 : 1);
    let b = buckets.get(id);
    if (!b) buckets.set(id, (b = { name: bucketChain(r.chain, bucket), chain: r.chain, bucket, rules: [] }));
    b.rules.push(r);
  }
  const list = [...buckets.entries()].sort((x, y) => x[0] - y[0]).map(([, b]) => b);
  for (const b of list) {
    let sorted = true;
    for (let i = 1; i < b.rules.length && sorted; i++) sorted = b.rules[i - 1]!.order < b.rules[i]!.order;
    if (sorted) continue;
    b.rules.sort((x, y) => x.order - y.order);
    for (let i = 1; i < b.rules.length; i++) {
      if (b.rules[i - 1]!.order === b.rules[i]!.order) throw invalid(`rules "${b.rules[i - 1]!.name}" and "${b.rules[i]!.name}"`, `both are at position ${b.rules[i]!.order} of ${b.chain}`);
    }
  }
  return list;
}

function bucketTexts(b: Bucket): string[] {
  return b.rules.flatMap(userRuleTexts);
}

function dispatchRules(buckets: readonly Bucket[], chain: 'input' | 'forward'): string[] {
  return buckets.filter((b) => b.chain === chain).map((b) => `jump ${b.name}`);
}

function ownersLabel(owners: Owners): string {
  const shown = owners.names.slice(0, 3).map((o) => `"${o}"`).join(', ');
  return owners.count > 3 ? `${shown} and ${owners.count - 3} more` : shown;
}

/** The overlay's sets (fixed ones and one per address group) and every element. */
function elementsOf(rs: FirewallRuleSet): { sets: SetModel[]; elements: ElementModel[] } {
  // One set per group and family that some rule matches on (a rule naming an IPv4 subnet needs no IPv6 set).
  const used = new Map<string, Set<Fam>>();
  for (const r of rs.rules) {
    if (r.source.kind !== 'group' && r.dest.kind !== 'group') continue;
    const fams = ruleFamilies(r);
    for (const m of [r.source, r.dest]) {
      if (m.kind !== 'group') continue;
      let f = used.get(m.group);
      if (!f) used.set(m.group, (f = new Set()));
      for (const x of fams) f.add(x);
    }
  }
  const groups = [...used.keys()].sort();
  const groupSets: SetModel[] = [];
  const groupElements: ElementModel[] = [];
  for (const g of groups) {
    const fams = used.get(g)!;
    for (const fam of [4, 6] as const) {
      if (!fams.has(fam)) continue;
      const name = groupSetName(g, fam);
      groupSets.push({ kind: 'set', name, type: fam === 4 ? 'ipv4_addr' : 'ipv6_addr', flags: [], owner: 'rules', label: `workload "${g}"` });
      for (const a of new Set(rs.groups[g] ?? [])) if (cidrFam(a) === fam) groupElements.push({ set: name, key: a, label: `workload "${g}"` });
    }
  }
  const polElements: ElementModel[] = [];
  for (const [set, m] of policyElements(rs.policies).bySet) {
    for (const [key, owners] of m) {
      polElements.push({ set, key, label: set === OVERLAY_SET.isolated ? `isolation by policies ${ownersLabel(owners)}` : `policy ${ownersLabel(owners)}` });
    }
  }
  return {
    sets: [...OVERLAY_SETS, ...groupSets],
    elements: [...groupElements, ...polElements, ...forwardElements(rs.forwards), ...hairpinElements(rs.forwards, rs.networks)],
  };
}

/** Everything the overlay puts in the table for this rule set. */
export function overlayModel(rs: FirewallRuleSet): OverlayModel {
  const buckets = bucketsOf(rs);
  const { sets, elements } = elementsOf(rs);
  return {
    chains: [
      ...buckets.map((b) => ({ name: b.name, rules: bucketTexts(b) })),
      policyChain(),
      { name: OVERLAY_CHAIN.fwInput, rules: dispatchRules(buckets, 'input') },
      { name: OVERLAY_CHAIN.fwForward, rules: dispatchRules(buckets, 'forward') },
    ],
    sets,
    elements,
  };
}

/** Base-chain filtering of same-network traffic matters when rules or policies could judge it. */
export function needsBridgeFiltering(rs: FirewallRuleSet): boolean {
  return rs.policies.length > 0 || rs.rules.some((r) => r.chain === 'forward');
}

/** route_localnet on bridges is what lets the host's 127.0.0.1:PORT reach a forward's target. */
export function needsRouteLocalnet(rs: FirewallRuleSet): boolean {
  return rs.forwards.length > 0;
}

// ---------------------------------------------------------------------------
// Scripts.

const T = 'inet volt';

export function elementLine(verb: 'add' | 'delete', e: ElementModel): string {
  const text = verb === 'delete' || e.value === undefined ? e.key : `${e.key} : ${e.value}`;
  return `${verb} element ${T} ${e.set} { ${text} }`;
}

export function setDeclarationLine(s: SetModel): string {
  const type = s.map ? `type ${s.type} : ${s.map};` : `type ${s.type};`;
  const flags = s.flags.length > 0 ? ` flags ${s.flags.join(',')};` : '';
  return `add ${s.kind} ${T} ${s.name} { ${type}${flags} }`;
}

function fill(c: ChainModel): string[] {
  return [`flush chain ${T} ${c.name}`, ...c.rules.map((r) => `add rule ${T} ${c.name} ${r}`)];
}

function elementKey(e: ElementModel): string {
  return `${e.set}\u0000${e.key}`;
}

export interface OverlayListing {
  /** Chain names present in table inet volt. */
  chains: string[];
  /** Set names present (sets, not maps). */
  sets: string[];
}

/**
 * Replace whatever overlay is in the kernel with `next`. `build` declares and
 * fills everything; `cleanup` removes what the listing shows that `next` does
 * not have (stale buckets and group sets) and must come after every chain
 * that jumped to them was refilled. Used by setupBase and when no previous
 * rule set is known.
 */
export function replaceOverlay(next: OverlayModel, present: OverlayListing): { build: string[]; cleanup: string[] } {
  const build: string[] = [];
  for (const s of next.sets) build.push(setDeclarationLine(s));
  for (const c of next.chains) build.push(`add chain ${T} ${c.name}`);
  for (const s of next.sets) build.push(`flush ${s.kind} ${T} ${s.name}`);
  build.push(...addElementLines(next.elements));
  for (const c of next.chains) build.push(...fill(c));
  const cleanup: string[] = [];
  const wantChains = new Set(next.chains.map((c) => c.name));
  for (const name of present.chains) {
    if (/^fw[if]-\d+$/.test(name) && !wantChains.has(name)) cleanup.push(`flush chain ${T} ${name}`, `delete chain ${T} ${name}`);
  }
  const wantSets = new Set(next.sets.map((s) => s.name));
  for (const name of present.sets) if ((name.startsWith('wl-') || name.startsWith('wl6-')) && !wantSets.has(name)) cleanup.push(`delete set ${T} ${name}`);
  return { build, cleanup };
}

/** Elements batched per set (one statement per 500), which nft parses much faster than one per line. */
function addElementLines(elements: readonly ElementModel[]): string[] {
  const bySet = new Map<string, string[]>();
  for (const e of elements) {
    const text = e.value === undefined ? e.key : `${e.key} : ${e.value}`;
    const list = bySet.get(e.set);
    if (list) list.push(text);
    else bySet.set(e.set, [text]);
  }
  const lines: string[] = [];
  for (const [set, texts] of bySet) {
    for (let i = 0; i < texts.length; i += 500) lines.push(`add element ${T} ${set} { ${texts.slice(i, i + 500).join(', ')} }`);
  }
  return lines;
}

function deleteElementLines(elements: readonly ElementModel[]): string[] {
  const bySet = new Map<string, string[]>();
  for (const e of elements) {
    const list = bySet.get(e.set);
    if (list) list.push(e.key);
    else bySet.set(e.set, [e.key]);
  }
  const lines: string[] = [];
  for (const [set, keys] of bySet) {
    for (let i = 0; i < keys.length; i += 500) lines.push(`delete element ${T} ${set} { ${keys.slice(i, i + 500).join(', ')} }`);
  }
  return lines;
}

export interface OverlayDiff {
  lines: string[];
  /** Forwards whose kernel mapping changed (added, removed, retargeted): UDP conntrack entries to flush. */
  changedForwards: { proto: 'tcp' | 'udp'; hostPort: number; hostIp?: string }[];
}

/**
 * Only the difference between two rule sets, in the order that keeps traffic
 * filtered throughout: new sets, elements, chains and rules first; then the
 * dispatch chains switch; old rules, chains, elements and sets go last. (It is
 * one transaction anyway: the kernel switches all of it at once.)
 *
 * Buckets whose rules are the same objects as before are skipped without
 * rendering them, and rules appended to a bucket are appended, so adding one
 * rule costs the same with ten rules as with ten thousand.
 */
export function diffRuleSets(prevSet: FirewallRuleSet, nextSet: FirewallRuleSet): string[] {
  const lines: string[] = [];
  const prev = elementsOf(prevSet);
  const next = elementsOf(nextSet);
  const prevSets = new Map(prev.sets.map((s) => [s.name, s]));
  const nextSets = new Map(next.sets.map((s) => [s.name, s]));
  for (const s of next.sets) if (!prevSets.has(s.name)) lines.push(setDeclarationLine(s));

  const prevElements = new Map(prev.elements.map((e) => [elementKey(e), e]));
  const nextElements = new Map(next.elements.map((e) => [elementKey(e), e]));
  const added: ElementModel[] = [];
  const removed: ElementModel[] = [];
  for (const [k, e] of nextElements) {
    const old = prevElements.get(k);
    if (!old) added.push(e);
    else if (old.value !== e.value) {
      // A map entry that changes value: out, then in (nft refuses to add over a different value).
      lines.push(...deleteElementLines([old]));
      added.push(e);
    }
  }
  for (const [k, e] of prevElements) if (!nextElements.has(k) && nextSets.has(e.set)) removed.push(e);
  lines.push(...addElementLines(added));

  const prevBuckets = bucketsOf(prevSet);
  const nextBuckets = bucketsOf(nextSet);
  const prevByName = new Map(prevBuckets.map((b) => [b.name, b]));
  for (const b of nextBuckets) {
    const old = prevByName.get(b.name);
    if (!old) {
      lines.push(`add chain ${T} ${b.name}`, ...bucketTexts(b).map((r) => `add rule ${T} ${b.name} ${r}`));
      continue;
    }
    if (old.rules.length === b.rules.length && old.rules.every((r, i) => r === b.rules[i])) continue;
    lines.push(...changeChain(b.name, bucketTexts(old), bucketTexts(b)));
  }
  for (const chain of ['input', 'forward'] as const) {
    const name = chain === 'input' ? OVERLAY_CHAIN.fwInput : OVERLAY_CHAIN.fwForward;
    lines.push(...changeChain(name, dispatchRules(prevBuckets, chain), dispatchRules(nextBuckets, chain)));
  }
  const nextNames = new Set(nextBuckets.map((b) => b.name));
  for (const b of prevBuckets) if (!nextNames.has(b.name)) lines.push(`flush chain ${T} ${b.name}`, `delete chain ${T} ${b.name}`);

  lines.push(...deleteElementLines(removed));
  for (const s of prev.sets) if (!nextSets.has(s.name)) lines.push(`delete ${s.kind} ${T} ${s.name}`);
  return lines;
}

/** Nothing, an appended tail, or a refill. */
function changeChain(name: string, old: readonly string[], next: readonly string[]): string[] {
  if (sameRules(old, next)) return [];
  if (next.length > old.length && sameRules(old, next.slice(0, old.length))) return next.slice(old.length).map((r) => `add rule ${T} ${name} ${r}`);
  return [`flush chain ${T} ${name}`, ...next.map((r) => `add rule ${T} ${name} ${r}`)];
}

function sameRules(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((r, i) => r === b[i]);
}

function forwardId(f: FirewallPortForward): string {
  return `${f.hostIp ?? '*'}|${f.proto}|${f.hostPort}`;
}

/** Forwards whose mapping differs between two rule sets (for UDP conntrack flushing). */
export function changedForwards(prev: readonly FirewallPortForward[], next: readonly FirewallPortForward[]): FirewallPortForward[] {
  const target = (f: FirewallPortForward | undefined): string =>
    f === undefined || (f.targetIp === undefined && f.targetIp6 === undefined) ? '' : `${f.targetIp === undefined ? '' : `${f.targetIp}:${f.targetPort}`}|${f.targetIp6 === undefined ? '' : `[${f.targetIp6}]:${f.targetPort}`}`;
  const p = new Map(prev.map((f) => [forwardId(f), f]));
  const n = new Map(next.map((f) => [forwardId(f), f]));
  const out: FirewallPortForward[] = [];
  for (const [id, f] of n) if (target(p.get(id)) !== target(f)) out.push(f);
  for (const [id, f] of p) if (!n.has(id) && (f.targetIp !== undefined || f.targetIp6 !== undefined)) out.push(f);
  return out;
}

/** An empty rule set (the overlay skeleton only). */
export function emptyRuleSet(): FirewallRuleSet {
  return { rules: [], groups: {}, forwards: [], policies: [], networks: [] };
}
