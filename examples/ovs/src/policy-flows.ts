import type { SwitchedPolicy, SwitchedPolicySet } from '@volt/sdk';

/*
 * volt's policies as OpenFlow flows with Open vSwitch conntrack (capability switched-policies).
 * Pure: a policy set in, the bridge's whole flow table out, as `ovs-ofctl` flow-file lines. The
 * driver installs it with `ovs-ofctl --bundle replace-flows` (one atomic change) and compares it
 * with `ovs-ofctl diff-flows` (drift).
 *
 * Table 0 (every bridge):
 *   priority 100  ipv6                                drop (the IPv6 gate, IPV6_GATE_FLOW)
 *   priority 0                                        NORMAL (what add-br makes)
 * and on a bridge whose network has isolated workloads:
 *   priority 60   ip,in_port=LOCAL                    NORMAL   routed into the network: nftables judged it
 *   priority 60   ip,nw_dst=<gateway>                 NORMAL   to the host: nftables' input chain
 *   priority 50   ip,nw_dst=<subnet>                  ct(table=1)   workload to workload
 *   (anything else, to outside the subnet, is routed: priority 0, NORMAL)
 * Table 1 (tracked workload-to-workload packets):
 *   priority 200  +trk+est / +trk+rel                 NORMAL   established, related
 *   priority 150  a deny policy's match               drop
 *   priority 120  an allow policy's match             ct(commit),NORMAL
 *   priority 110  ip,nw_dst=<isolated address>        drop     isolated, nothing allows it
 *   priority 100  ip                                  ct(commit),NORMAL   the network's default: allow
 * which is the order of the nftables driver's forward chain for policies (deny, allow, isolation,
 * same network accepted), so `volt net policy test` says what the switch does.
 *
 * Cookies: every flow of volt has 0x766f6c74 ("volt") in the low 32 bits; a policy's flows carry
 * the policy's position in the set + 1 in the high 32 bits, so drift names the policy.
 */

/** The low 32 bits of every cookie volt puts on a flow. */
export const COOKIE_VOLT = 0x766f6c74;
/** Conntrack zone of volt's policy flows. */
export const CT_ZONE = 1;

const hex = (n: bigint): string => `0x${n.toString(16)}`;

export function cookieOf(policyIndex?: number): string {
  return hex(policyIndex === undefined ? BigInt(COOKIE_VOLT) : (BigInt(policyIndex + 1) << 32n) | BigInt(COOKIE_VOLT));
}

/** The cookie as ovs-ofctl prints it → the policy's index, or undefined for volt's own flows and others. */
export function policyIndexOf(cookie: string): number | undefined {
  let v: bigint;
  try {
    v = BigInt(cookie);
  } catch {
    return undefined;
  }
  if ((v & 0xffffffffn) !== BigInt(COOKIE_VOLT)) return undefined;
  const hi = v >> 32n;
  return hi === 0n ? undefined : Number(hi) - 1;
}

/** The IPv6 gate; the same text the driver has always installed. */
export const IPV6_GATE_FLOW = `cookie=${cookieOf()},priority=100,ipv6,actions=drop`;
/** add-br's default flow. */
export const DEFAULT_FLOW = 'priority=0,actions=NORMAL';

const isV4 = (a: string): boolean => !a.includes(':');

/** The match fields of one policy, one string per flow (IPv4 only: IPv6 never crosses the bridge). */
export function policyMatches(p: SwitchedPolicy): string[] {
  const to = p.to.filter(isV4);
  const from = p.from === undefined ? [undefined] : p.from.filter(isV4);
  const shapes: string[] = [];
  if (p.ports.length > 0) {
    const protos = p.proto === 'any' ? ['tcp', 'udp'] : p.proto === 'icmp' ? [] : [p.proto];
    for (const proto of protos) for (const port of p.ports) shapes.push(`${proto},tp_dst=${port}`);
  } else {
    shapes.push(p.proto === 'any' ? 'ip' : p.proto);
  }
  const out: string[] = [];
  for (const s of from) for (const d of to) for (const shape of shapes) out.push(`${shape}${s === undefined ? '' : `,nw_src=${s}`},nw_dst=${d}`);
  return out;
}

/** Does the set make the switch judge anything (some workload is isolated)? */
export function enforces(set: SwitchedPolicySet | undefined): boolean {
  return set !== undefined && set.isolated.some(isV4);
}

/** The bridge's whole flow table for `set` (undefined: no policy on this bridge). */
export function flowTable(set: SwitchedPolicySet | undefined): string[] {
  const lines = [DEFAULT_FLOW, IPV6_GATE_FLOW];
  if (!enforces(set)) return lines;
  const s = set!;
  const c = cookieOf();
  const commit = `ct(commit,zone=${CT_ZONE}),NORMAL`;
  lines.push(
    `cookie=${c},table=0,priority=60,ip,in_port=LOCAL,actions=NORMAL`,
    `cookie=${c},table=0,priority=60,ip,nw_dst=${s.gateway},actions=NORMAL`,
    `cookie=${c},table=0,priority=50,ip,nw_dst=${s.subnet},actions=ct(table=1,zone=${CT_ZONE})`,
    `cookie=${c},table=1,priority=200,ct_state=+trk+est,ip,actions=NORMAL`,
    `cookie=${c},table=1,priority=200,ct_state=+trk+rel,ip,actions=NORMAL`,
  );
  s.policies.forEach((p, i) => {
    const [prio, actions] = p.action === 'deny' ? [150, 'drop'] : [120, commit];
    for (const m of policyMatches(p)) lines.push(`cookie=${cookieOf(i)},table=1,priority=${prio},${m},actions=${actions}`);
  });
  for (const d of s.isolated.filter(isV4)) lines.push(`cookie=${c},table=1,priority=110,ip,nw_dst=${d},actions=drop`);
  lines.push(`cookie=${c},table=1,priority=100,ip,actions=${commit}`);
  return lines;
}

/**
 * `ovs-ofctl diff-flows BRIDGE FILE` output → drift sentences. "-" lines are on the switch and not
 * wanted, "+" lines wanted and missing; a flow with other actions is both.
 */
export function describeFlowDiff(bridge: string, set: SwitchedPolicySet | undefined, diff: string): string[] {
  const out: string[] = [];
  for (const raw of diff.split('\n')) {
    const line = raw.trim();
    if (line === '' || (line[0] !== '+' && line[0] !== '-')) continue;
    const flow = line.slice(1).trim();
    // The IPv6 gate has its own sentence (inspectBridges); not twice.
    if (line[0] === '+' && /priority=100,ipv6 actions=drop/.test(flow)) continue;
    const cookie = /cookie=(0x[0-9a-f]+)/.exec(flow)?.[1];
    const idx = cookie === undefined ? undefined : policyIndexOf(cookie);
    const policy = idx === undefined ? undefined : set?.policies[idx]?.name;
    const whose = policy !== undefined ? ` of policy "${policy}"` : '';
    out.push(
      line[0] === '+'
        ? `Open vSwitch bridge ${bridge} lacks a flow${whose} that volt installs: ${flow}`
        : `Open vSwitch bridge ${bridge} has a flow${whose} that volt did not install or no longer wants: ${flow}`,
    );
  }
  return out;
}
