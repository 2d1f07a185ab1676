import { ConflictError, UserInputError } from '@volt/sdk';
import { broadcastAddress, contains, formatIPv4, networkAddress, parseCidr, parseIPv4 } from '../../net/ipv4';
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
