import { ConflictError, UserInputError } from '@volt/sdk';
import {
  broadcastAddress,
  contains,
  formatCidr,
  formatIPv4,
  networkAddress,
  overlaps,
  parseCidr,
  parseIPv4,
  type Cidr,
} from '../../net/ipv4';
import { canonicalCidr6, formatIPv6, nthAddress6, overlaps6, parseCidr6, subnet6Problem } from '../../net/ipv6';
import type { NetworkRecord } from '../../state/types';

export const IFNAMSIZ_MAX = 15;
export const NETWORK_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const MIN_PREFIX = 8;
const MAX_PREFIX = 30;

export interface CreateNetworkRequest {
  name: string;
  subnet: string;
  gateway?: string;
  mtu?: number;
  nat?: boolean;
  bridge?: string;
  /** Stored with the record (`volt net compose` labels its networks). */
  labels?: Record<string, string>;
  /** IPv6 prefix ("fd00:30::/64"); the gateway is its ::1. Absent: IPv4 only. */
  subnet6?: string;
  /** How v6 leaves the network (default nat); only with subnet6. */
  ipv6Mode?: string;
  /** Container address range ("10.20.0.128-10.20.0.254"), validated by the caller (ipam.parseRange). */
  containerRange?: string;
}

export interface HostRoute {
  dst: string;
  dev?: string;
}

/** Everything the validator needs to know about the world, read beforehand. */
export interface PlanContext {
  existing: NetworkRecord[];
  /** IPv4 routes of the host's main table (the default route excluded by the caller or here). */
  hostRoutes: HostRoute[];
  defaultMtu: number;
  /** Name of the default network; its bridge carries the same name. */
  defaultName: string;
  now: string;
}

const bad = (msg: string, code: string, suggestions: string[] = []): UserInputError =>
  new UserInputError(msg, { code, suggestions });

/** Validate a create request against the world and return the record to store. */
export function planNetwork(req: CreateNetworkRequest, ctx: PlanContext): NetworkRecord {
  const what = `create network "${req.name}"`;
  if (req.name.length === 0 || req.name.length > 32 || !NETWORK_NAME.test(req.name)) {
    throw bad(
      `${what}: the name must be 1-32 characters of lower-case letters, digits, "-" and "_", starting with a letter or digit`,
      'E_NAME_INVALID',
      ['e.g. --name backend'],
    );
  }
  const isDefault = req.name === ctx.defaultName;
  const bridge = req.bridge ?? (isDefault ? req.name : `volt-${req.name}`);
  if (bridge.length > IFNAMSIZ_MAX || !IFNAME.test(bridge)) {
    const suggestion = `volt-${req.name}`.slice(0, IFNAMSIZ_MAX).replace(/[-_.]+$/, '');
    throw bad(
      `${what}: bridge name "${bridge}" is ${bridge.length} characters; Linux interface names are at most ${IFNAMSIZ_MAX} (letters, digits, "-", "_", ".")`,
      'E_BRIDGE_NAME',
      [`pass --bridge ${suggestion}`, 'or choose a network name of at most 10 characters'],
    );
  }
  if (ctx.existing.some((n) => n.name === req.name)) {
    throw new ConflictError(`${what}: a network with this name already exists`, {
      code: 'E_NETWORK_EXISTS',
      suggestions: [`inspect it with \`volt net inspect ${req.name}\``, 'or choose another --name'],
    });
  }
  const sameBridge = ctx.existing.find((n) => n.bridge === bridge);
  if (sameBridge) {
    throw new ConflictError(`${what}: bridge "${bridge}" already belongs to network "${sameBridge.name}"`, {
      code: 'E_BRIDGE_EXISTS',
      suggestions: ['pass another --bridge'],
    });
  }

  const cidr = parseSubnet(req.subnet, what);
  for (const n of ctx.existing) {
    const other = parseCidr(n.subnet);
    if (other && overlaps(cidr, other)) {
      throw new ConflictError(`${what}: subnet ${req.subnet} overlaps network "${n.name}" (${n.subnet})`, {
        code: 'E_SUBNET_OVERLAP',
        suggestions: ['choose a subnet that no network uses; `volt net list` shows them'],
      });
    }
  }
  const ownBridges = new Set(ctx.existing.map((n) => n.bridge));
  for (const r of ctx.hostRoutes) {
    if (r.dst === 'default' || (r.dev && ownBridges.has(r.dev))) continue;
    const rc = parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
    if (rc && rc.prefix > 0 && overlaps(cidr, rc)) {
      throw new ConflictError(
        `${what}: subnet ${req.subnet} overlaps the host route ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}`,
        { code: 'E_SUBNET_OVERLAP_HOST', suggestions: ['choose a subnet the host does not already route (`ip route` shows them)'] },
      );
    }
  }

  const v6 = planSubnet6(req, ctx, what);

  const net = networkAddress(cidr);
  const bcast = broadcastAddress(cidr);
  let gateway = net + 1;
  if (req.gateway !== undefined) {
    const g = parseIPv4(req.gateway);
    if (g === undefined) throw bad(`${what}: gateway "${req.gateway}" is not an IPv4 address`, 'E_GATEWAY_INVALID');
    if (!contains(cidr, g)) throw bad(`${what}: gateway ${req.gateway} is outside ${req.subnet}`, 'E_GATEWAY_OUTSIDE');
    if (g === net || g === bcast) {
      throw bad(`${what}: gateway ${req.gateway} is the ${g === net ? 'network' : 'broadcast'} address of ${req.subnet}`, 'E_GATEWAY_RESERVED', [
        `use ${formatIPv4(net + 1)}`,
      ]);
    }
    gateway = g;
  }
  const mtu = req.mtu ?? ctx.defaultMtu;
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) {
    throw bad(`${what}: MTU ${mtu} is out of range (576-65535)`, 'E_MTU_INVALID');
  }
  return {
    name: req.name,
    bridge,
    subnet: formatCidr(net, cidr.prefix),
    gateway: formatIPv4(gateway),
    mtu,
    nat: req.nat ?? true,
    mac: bridgeMac(req.name),
    isDefault,
    ...v6,
    ...(req.containerRange !== undefined ? { containerRange: req.containerRange } : {}),
    ...(req.labels !== undefined ? { labels: { ...req.labels } } : {}),
    createdAt: ctx.now,
  };
}

/** The IPv6 part of a create request, validated: nothing when it has no subnet6. */
function planSubnet6(req: CreateNetworkRequest, ctx: PlanContext, what: string): Pick<NetworkRecord, 'subnet6' | 'gateway6' | 'ipv6Mode'> {
  if (req.subnet6 === undefined) {
    if (req.ipv6Mode !== undefined) {
      throw bad(`${what}: --ipv6-mode needs an IPv6 prefix`, 'E_IPV6_MODE_INVALID', [`add --subnet6, e.g. --subnet6 fd00:30::/64 --ipv6-mode ${req.ipv6Mode}`]);
    }
    return {};
  }
  const problem = subnet6Problem(req.subnet6);
  if (problem !== undefined) {
    throw bad(`${what}: --subnet6 ${problem}`, 'E_SUBNET6_INVALID', ['e.g. --subnet6 fd00:30::/64 (a /64 from fd00::/8 is the usual choice)']);
  }
  const mode = req.ipv6Mode ?? 'nat';
  if (mode !== 'nat' && mode !== 'routed') {
    throw bad(`${what}: --ipv6-mode "${mode}" is not one of nat, routed`, 'E_IPV6_MODE_INVALID', [
      'nat: masquerade v6 behind the host (ULA prefixes); routed: a global prefix routed to this host',
    ]);
  }
  const c = parseCidr6(req.subnet6)!;
  const subnet6 = canonicalCidr6(c);
  for (const n of ctx.existing) {
    const other = n.subnet6 === undefined ? undefined : parseCidr6(n.subnet6);
    if (other && overlaps6(c, other)) {
      throw new ConflictError(`${what}: IPv6 prefix ${subnet6} overlaps network "${n.name}" (${n.subnet6})`, {
        code: 'E_SUBNET_OVERLAP',
        suggestions: ['choose a prefix that no network uses; `volt net list` shows them'],
      });
    }
  }
  return { subnet6, gateway6: formatIPv6(nthAddress6(c, 1)), ipv6Mode: mode };
}

export function parseSubnet(subnet: string, what: string): Cidr {
  const cidr = parseCidr(subnet);
  if (!cidr) {
    throw bad(`${what}: "${subnet}" is not an IPv4 subnet in CIDR form`, 'E_SUBNET_INVALID', ['e.g. --subnet 10.30.0.0/24']);
  }
  const net = networkAddress(cidr);
  if (net !== cidr.address) {
    throw bad(`${what}: ${subnet} has host bits set`, 'E_SUBNET_HOST_BITS', [`did you mean ${formatCidr(net, cidr.prefix)}?`]);
  }
  if (cidr.prefix > MAX_PREFIX) {
    throw bad(`${what}: /${cidr.prefix} leaves no room for a gateway and workloads (largest prefix is /${MAX_PREFIX})`, 'E_SUBNET_TOO_SMALL', [
      'use a /24 or larger',
    ]);
  }
  if (cidr.prefix < MIN_PREFIX) {
    throw bad(`${what}: /${cidr.prefix} is too large for one bridge (smallest prefix is /${MIN_PREFIX})`, 'E_SUBNET_TOO_LARGE', [
      'use a /16 to /24',
    ]);
  }
  return cidr;
}

/** Stable, locally administered, unicast MAC for a network's bridge. */
export function bridgeMac(name: string): string {
  // node:crypto loads here, not with the module: it costs about 2.5 ms, and listings never need it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const h = createHash('sha256').update(`volt-bridge:${name}`).digest();
  const bytes = [((h[0] as number) & 0xfc) | 0x02, ...Array.from(h.subarray(1, 6))];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function prefixOf(subnet: string): number {
  return Number(subnet.split('/')[1]);
}
