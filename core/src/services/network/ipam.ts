import { ConflictError, UserInputError } from '@volt/sdk';
import { broadcastAddress, contains, formatIPv4, networkAddress, parseCidr, parseIPv4 } from '../../net/ipv4';
import { contains6, eui64Address, formatIPv6, ipv6Problem, lastAddress6, networkAddress6, parseCidr6, parseIPv6 } from '../../net/ipv6';
import type { AttachmentRecord, NetworkRecord } from '../../state/types';

export type WorkloadKind = 'vm' | 'container';

export interface IpRange {
  first: number;
  last: number;
}

export interface IpamRanges {
  vm: IpRange;
  container: IpRange;
}

/**
 * The spec's zone layout, scaled to the subnet: VMs get static addresses from
 * a low range (10.42.0.2-10.42.0.99 in a /24), containers the rest. Small
 * subnets are split in half.
 */
export function defaultRanges(subnet: string): IpamRanges {
  const c = parseCidr(subnet)!;
  const net = networkAddress(c);
  const last = broadcastAddress(c) - 1;
  const hosts = last - net;
  const vmLast = hosts >= 200 ? net + 99 : net + 1 + Math.floor((hosts - 1) / 2);
  return { vm: { first: net + 2, last: vmLast }, container: { first: vmLast + 1, last } };
}

export function parseRange(text: string, subnet: string, what: string): IpRange {
  const m = /^([0-9.]+)-([0-9.]+)$/.exec(text);
  const a = m ? parseIPv4(m[1]!) : undefined;
  const b = m ? parseIPv4(m[2]!) : undefined;
  const c = parseCidr(subnet)!;
  if (a === undefined || b === undefined || a > b) {
    throw new UserInputError(`${what}: "${text}" is not an address range like 10.42.0.100-10.42.0.254`, { code: 'E_RANGE_INVALID' });
  }
  if (!contains(c, a) || !contains(c, b) || a === networkAddress(c) || b === broadcastAddress(c)) {
    throw new UserInputError(`${what}: range ${text} is not inside the usable addresses of ${subnet}`, { code: 'E_RANGE_OUTSIDE' });
  }
  return { first: a, last: b };
}

export function formatRange(r: IpRange): string {
  return `${formatIPv4(r.first)}-${formatIPv4(r.last)}`;
}

export function rangesOf(n: NetworkRecord): IpamRanges {
  const d = defaultRanges(n.subnet);
  return {
    vm: n.vmRange ? parseRange(n.vmRange, n.subnet, `network "${n.name}"`) : d.vm,
    container: n.containerRange ? parseRange(n.containerRange, n.subnet, `network "${n.name}"`) : d.container,
  };
}

/**
 * Pick an address for a workload on a network: the requested one (validated),
 * else the first free address of the workload kind's range. Runs under the
 * state lock, so parallel connects never collide.
 */
export function allocateAddress(
  n: NetworkRecord,
  attachments: readonly AttachmentRecord[],
  kind: WorkloadKind,
  requested: string | undefined,
  what: string,
): string {
  const c = parseCidr(n.subnet)!;
  const gateway = parseIPv4(n.gateway)!;
  const taken = new Set(attachments.filter((a) => a.network === n.name).map((a) => parseIPv4(a.ip)!));
  if (requested !== undefined) {
    const ip = parseIPv4(requested);
    if (ip === undefined) throw new UserInputError(`${what}: --ip "${requested}" is not an IPv4 address`, { code: 'E_IP_INVALID' });
    if (!contains(c, ip)) throw new UserInputError(`${what}: ${requested} is outside ${n.subnet}`, { code: 'E_IP_OUTSIDE' });
    if (ip === networkAddress(c) || ip === broadcastAddress(c)) {
      throw new UserInputError(`${what}: ${requested} is the ${ip === networkAddress(c) ? 'network' : 'broadcast'} address of ${n.subnet}`, { code: 'E_IP_RESERVED' });
    }
    if (ip === gateway) throw new UserInputError(`${what}: ${requested} is the gateway of network "${n.name}"`, { code: 'E_IP_RESERVED' });
    if (taken.has(ip)) {
      const holder = attachments.find((a) => a.network === n.name && a.ip === requested)!;
      throw new ConflictError(`${what}: ${requested} is already taken by "${holder.workload}"`, {
        code: 'E_IP_TAKEN',
        suggestions: ['leave out --ip to get a free address'],
      });
    }
    return requested;
  }
  const ranges = rangesOf(n);
  const range = ranges[kind];
  for (let ip = range.first; ip <= range.last; ip++) {
    if (ip !== gateway && !taken.has(ip)) return formatIPv4(ip);
  }
  throw new ConflictError(`${what}: no free ${kind} address left in ${formatRange(range)} on network "${n.name}"`, {
    code: 'E_IPAM_EXHAUSTED',
    suggestions: ['disconnect unused workloads, or pass --ip with a free address'],
  });
}

export interface IpRange6 {
  first: bigint;
  last: bigint;
}

/**
 * The IPv6 split mirrors the IPv4 one: the same offsets from the start of the prefix
 * (10.30.0.2-10.30.0.99 → fd00:30::2-fd00:30::63), clamped to the prefix, so a workload can
 * have the same host part in both families (fd00:30::64 beside 10.30.0.100).
 */
export function rangesOf6(n: NetworkRecord): { vm: IpRange6; container: IpRange6 } | undefined {
  if (n.subnet6 === undefined) return undefined;
  const c6 = parseCidr6(n.subnet6)!;
  const base4 = networkAddress(parseCidr(n.subnet)!);
  const base6 = networkAddress6(c6);
  const last6 = lastAddress6(c6);
  const r = rangesOf(n);
  const map = (x: number): bigint => {
    const v = base6 + BigInt(x - base4);
    return v > last6 ? last6 : v;
  };
  return { vm: { first: map(r.vm.first), last: map(r.vm.last) }, container: { first: map(r.container.first), last: map(r.container.last) } };
}

export interface Address6Options {
  /** The IPv4 address chosen for this attachment: its host part is tried first. */
  ip?: string;
  /** VM NICs: the MAC, whose EUI-64 address the guest forms itself by SLAAC on a /64. */
  mac?: string;
}

/**
 * The IPv6 address of a workload on a dual-stack network, by the same rules as IPv4: the
 * requested one (validated: inside the prefix, not its first address or the gateway, free),
 * else for a VM NIC on a /64 the EUI-64 address of its MAC (what SLAAC gives the guest, so
 * state knows it without asking), else the address with the IPv4 host part when that is free
 * and in the kind's range, else the first free one of the range. undefined on an IPv4-only network.
 */
export function allocateAddress6(
  n: NetworkRecord,
  attachments: readonly AttachmentRecord[],
  kind: WorkloadKind,
  requested: string | undefined,
  what: string,
  opts: Address6Options = {},
): string | undefined {
  if (n.subnet6 === undefined || n.gateway6 === undefined) {
    if (requested === undefined) return undefined;
    throw new UserInputError(`${what}: --ip6 ${requested} given, but network "${n.name}" has no IPv6 prefix`, {
      code: 'E_IP6_NO_SUBNET6',
      suggestions: ['leave out --ip6, or use a network created with --subnet6'],
    });
  }
  const c = parseCidr6(n.subnet6)!;
  const gateway = parseIPv6(n.gateway6)!;
  const mine = attachments.filter((a) => a.network === n.name && a.ip6 !== undefined);
  const taken = new Map(mine.map((a) => [parseIPv6(a.ip6!)!, a.workload]));
  if (requested !== undefined) {
    const problem = ipv6Problem(requested);
    if (problem !== undefined) {
      throw new UserInputError(`${what}: --ip6 "${requested}" is not an IPv6 address: ${problem}`, { code: 'E_IP6_INVALID', suggestions: [`e.g. --ip6 ${formatIPv6(networkAddress6(c) + 10n)}`] });
    }
    const ip = parseIPv6(requested)!;
    const text = formatIPv6(ip);
    if (!contains6(c, ip)) throw new UserInputError(`${what}: ${text} is outside ${n.subnet6} (network "${n.name}")`, { code: 'E_IP6_OUTSIDE' });
    if (ip === networkAddress6(c)) throw new UserInputError(`${what}: ${text} is the subnet-router anycast address of ${n.subnet6}`, { code: 'E_IP6_RESERVED' });
    if (ip === gateway) throw new UserInputError(`${what}: ${text} is the IPv6 gateway of network "${n.name}"`, { code: 'E_IP6_RESERVED' });
    const holder = taken.get(ip);
    if (holder !== undefined) {
      throw new ConflictError(`${what}: ${text} is already taken by "${holder}"`, { code: 'E_IP_TAKEN', suggestions: ['leave out --ip6 to get a free address'] });
    }
    return text;
  }
  if (kind === 'vm' && opts.mac !== undefined && c.prefix === 64) {
    const ip = eui64Address(c, opts.mac);
    const holder = taken.get(ip);
    if (holder !== undefined) {
      throw new ConflictError(`${what}: the SLAAC address ${formatIPv6(ip)} of MAC ${opts.mac} is already taken by "${holder}"`, {
        code: 'E_IP_TAKEN',
        suggestions: ['give the NIC another --mac, or a static address with --ip6'],
      });
    }
    return formatIPv6(ip);
  }
  const range = rangesOf6(n)![kind];
  const free = (ip: bigint): boolean => ip !== gateway && !taken.has(ip);
  const v4 = opts.ip === undefined ? undefined : parseIPv4(opts.ip);
  if (v4 !== undefined) {
    const same = networkAddress6(c) + BigInt(v4 - networkAddress(parseCidr(n.subnet)!));
    if (same >= range.first && same <= range.last && free(same)) return formatIPv6(same);
  }
  // Linear like IPv4: the range holds at most as many addresses as the IPv4 one.
  for (let ip = range.first; ip <= range.last; ip++) if (free(ip)) return formatIPv6(ip);
  throw new ConflictError(`${what}: no free ${kind} IPv6 address left in ${formatIPv6(range.first)}-${formatIPv6(range.last)} on network "${n.name}"`, {
    code: 'E_IPAM_EXHAUSTED',
    suggestions: ['disconnect unused workloads, or pass --ip6 with a free address'],
  });
}
