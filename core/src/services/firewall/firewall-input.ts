import { UserInputError } from '@volt/sdk';
import { contains, formatIPv4, maskOf, parseCidr, parseIPv4 } from '../../net/ipv4';
import { canonicalCidr6, cidr6Problem, contains6, formatIPv6, ipv6Problem, isIPv4Mapped, networkAddress6, parseCidr6, parseIPv6 } from '../../net/ipv6';
import type { FirewallPortRange, FirewallProto } from '@volt/sdk';

/**
 * What users type for firewall rules, port forwards and policies, parsed once
 * into typed values. Pure; every error names the flag and the value and says
 * what would be right.
 */

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** Workload names as volt accepts them (registered containers, VMs, named namespaces). */
export const WORKLOAD_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function bad(what: string, message: string, suggestions: string[] = []): UserInputError {
  return new UserInputError(`${what}: ${message}`, { code: 'E_FIREWALL_INPUT', suggestions });
}

export function parseName(text: string | undefined, what: string, kind = 'rule'): string {
  if (text === undefined || text === '') throw new UserInputError(`${what}: --name is required`, { code: 'E_ARG_MISSING' });
  if (!NAME.test(text)) throw bad(what, `${kind} name "${text}" must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  return text;
}

/** "80", "80,443", "8000-8080": a list of ranges; each port 1-65535, ranges not inverted, no duplicates. */
export function parsePorts(text: string | undefined, what: string): FirewallPortRange[] {
  if (text === undefined || text.trim() === '' || text === 'any') return [];
  const out: FirewallPortRange[] = [];
  for (const raw of text.split(',')) {
    const part = raw.trim();
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw bad(what, `port "${part}" is not a number or a range such as 8000-8080`, ['ports are 1-65535, separated by commas: --port 80,443,8000-8080']);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    for (const p of [from, to]) {
      if (p < 1 || p > 65535) throw bad(what, `port ${p} is out of range (1-65535)`);
    }
    if (to < from) throw bad(what, `port range ${part} is inverted`, [`did you mean ${to}-${from}?`]);
    if (out.some((r) => !(to < r.from || from > r.to))) throw bad(what, `port ${part} is listed twice or overlaps another range`);
    out.push({ from, to });
  }
  return out;
}

export function formatPorts(ports: readonly FirewallPortRange[]): string[] {
  return ports.map((p) => (p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`));
}

/** A single port for forwards: 1-65535. */
export function parsePort(value: number | string | undefined, flag: string, what: string): number {
  const n = typeof value === 'number' ? value : value === undefined ? NaN : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n)) throw bad(what, `${flag} "${String(value)}" is not a port number`);
  if (n < 1 || n > 65535) throw bad(what, `${flag} ${n} is out of range (1-65535)`);
  return n;
}

export function parseProto(text: string | undefined, what: string, allowed: readonly FirewallProto[] = ['tcp', 'udp', 'icmp', 'any']): FirewallProto {
  const v = (text ?? 'tcp').toLowerCase();
  if (!(allowed as readonly string[]).includes(v)) throw bad(what, `unknown protocol "${text ?? ''}"`, [`use one of: ${allowed.join(', ')}`]);
  return v as FirewallProto;
}

export function parseAction<T extends string>(text: string | undefined, allowed: readonly T[], what: string): T {
  if (text === undefined) throw new UserInputError(`${what}: --action is required (${allowed.join(', ')})`, { code: 'E_ARG_MISSING' });
  const v = text.toLowerCase();
  if (!(allowed as readonly string[]).includes(v)) throw bad(what, `unknown action "${text}"`, [`use one of: ${allowed.join(', ')}`]);
  return v as T;
}

/** A --source/--dest/--from value: anything, the host, an address or subnet, or a workload name. */
export type Endpoint =
  | { kind: 'any' }
  | { kind: 'host' }
  | { kind: 'cidr'; family: 4; cidr: string; address: number; prefix: number }
  | { kind: 'cidr'; family: 6; cidr: string; address: bigint; prefix: number }
  | { kind: 'workload'; name: string };

/** An IPv6 address or prefix as --source/--dest/--from: canonical text ("fd00:30::5", "fd00:30::/64"). */
function parseEndpoint6(v: string, flag: string, what: string): Endpoint {
  if (!v.includes('/')) {
    const a = parseIPv6(v);
    if (a === undefined) throw bad(what, `${flag} "${v}" is not a valid IPv6 address: ${ipv6Problem(v) ?? 'unreadable'}`, ['e.g. fd00:30::5, or a prefix such as fd00:30::/64']);
    if (isIPv4Mapped(a)) throw bad(what, `${flag} "${v}" is an IPv4-mapped address`, ['write the IPv4 address itself (e.g. 10.0.0.5)']);
    return { kind: 'cidr', family: 6, cidr: formatIPv6(a), address: a, prefix: 128 };
  }
  const c = parseCidr6(v);
  if (!c) throw bad(what, `${flag} "${v}" is not a valid IPv6 prefix: ${cidr6Problem(v) ?? 'unreadable'}`, ['write a prefix as ADDRESS/LENGTH with a length of 0-128, e.g. fd00:30::/64']);
  const net = networkAddress6(c);
  if (net !== c.address) {
    throw bad(what, `${flag} ${v} has host bits set`, [`did you mean ${canonicalCidr6(c)} (the prefix) or ${formatIPv6(c.address)} (one address)?`]);
  }
  return { kind: 'cidr', family: 6, cidr: c.prefix === 128 ? formatIPv6(net) : canonicalCidr6(c), address: net, prefix: c.prefix };
}

/**
 * Values made of digits, dots and slashes are addresses and must be valid
 * ones: "10.0.0/24" or "10.0.0.0/33" is a typo, not a workload name.
 */
export function parseEndpoint(text: string | undefined, flag: string, what: string, opts: { host: boolean } = { host: false }): Endpoint {
  const v = (text ?? 'any').trim();
  if (v === '' || v === 'any' || v === '*') return { kind: 'any' };
  if (v === 'host') {
    if (!opts.host) throw bad(what, `${flag} host: the host's own traffic is not filtered by volt rules`, ['use host as --dest to filter traffic to the host']);
    return { kind: 'host' };
  }
  // A colon never appears in a workload name: this is an IPv6 address or prefix, or a typo of one.
  if (v.includes(':')) return parseEndpoint6(v, flag, what);
  if (/^[\d./]+$/.test(v)) {
    if (!v.includes('/')) {
      const a = parseIPv4(v);
      if (a === undefined) throw bad(what, `${flag} "${v}" is not a valid IPv4 address`, ['four numbers 0-255 separated by dots, e.g. 10.0.0.5']);
      return { kind: 'cidr', family: 4, cidr: v, address: a, prefix: 32 };
    }
    const c = parseCidr(v);
    if (!c) throw bad(what, `${flag} "${v}" is not a valid IPv4 subnet`, ['write a subnet as ADDRESS/PREFIX with a prefix of 0-32, e.g. 10.0.0.0/24']);
    const net = (c.address & maskOf(c.prefix)) >>> 0;
    if (net !== c.address) {
      throw bad(what, `${flag} ${v} has host bits set`, [`did you mean ${formatIPv4(net)}/${c.prefix} (the subnet) or ${formatIPv4(c.address)} (one address)?`]);
    }
    return { kind: 'cidr', family: 4, cidr: c.prefix === 32 ? formatIPv4(c.address) : `${formatIPv4(net)}/${c.prefix}`, address: net, prefix: c.prefix };
  }
  if (!WORKLOAD_NAME.test(v)) throw bad(what, `${flag} "${v}" is neither any, an IPv4 or IPv6 address or subnet, nor a workload name`);
  return { kind: 'workload', name: v };
}

export function endpointText(e: Endpoint): string {
  switch (e.kind) {
    case 'any':
      return 'any';
    case 'host':
      return 'host';
    case 'cidr':
      return e.cidr;
    case 'workload':
      return e.name;
  }
}

/** Does this subnet (or address) contain one of the host's addresses? */
export function coversHost(e: Endpoint, hostAddresses: readonly string[]): boolean {
  if (e.kind !== 'cidr') return false;
  if (e.family === 6) {
    const c = { address: e.address, prefix: e.prefix };
    return hostAddresses.some((h) => {
      const n = h.includes(':') ? parseIPv6(h) : undefined;
      return n !== undefined && contains6(c, n);
    });
  }
  const c = { address: e.address, prefix: e.prefix };
  return hostAddresses.some((h) => {
    const n = parseIPv4(h);
    return n !== undefined && contains(c, n);
  });
}

/** The one family two endpoints name, or a clear error when they name different ones. */
export function endpointsFamily(a: Endpoint, b: Endpoint, what: string): 4 | 6 | undefined {
  const fa = a.kind === 'cidr' ? a.family : undefined;
  const fb = b.kind === 'cidr' ? b.family : undefined;
  if (fa !== undefined && fb !== undefined && fa !== fb) {
    const [v4, v6] = fa === 4 ? [a, b] : [b, a];
    throw bad(what, `--source and --dest are of different address families (${endpointText(v4)} is IPv4, ${endpointText(v6)} is IPv6): no packet has both`, [
      'use two rules, one per family, or a workload name (it stands for both of its addresses)',
    ]);
  }
  return fa ?? fb;
}

export function parseIpv4Flag(text: string | undefined, flag: string, what: string): string | undefined {
  if (text === undefined) return undefined;
  if (parseIPv4(text) === undefined) throw bad(what, `${flag} "${text}" is not a valid IPv4 address`);
  return text;
}

/** An IPv4 or IPv6 address (canonical form for IPv6; brackets as in [fd00::1] are accepted and dropped). */
export function parseIpFlag(text: string | undefined, flag: string, what: string): string | undefined {
  if (text === undefined) return undefined;
  const v = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (v.includes(':')) {
    const n = parseIPv6(v);
    if (n === undefined) throw bad(what, `${flag} "${text}" is not a valid IPv6 address: ${ipv6Problem(v) ?? 'unreadable'}`);
    if (isIPv4Mapped(n)) throw bad(what, `${flag} "${text}" is an IPv4-mapped address`, ['write the IPv4 address itself']);
    return formatIPv6(n);
  }
  if (parseIPv4(v) === undefined) throw bad(what, `${flag} "${text}" is not a valid IPv4 or IPv6 address`);
  return v;
}

/** Policy ports expand to single numbers (set elements); ranges are capped so one policy cannot flood the sets. */
export const MAX_POLICY_PORTS = 1024;

export function expandPorts(ranges: readonly FirewallPortRange[], what: string): number[] {
  const out: number[] = [];
  for (const r of ranges) for (let p = r.from; p <= r.to; p++) out.push(p);
  if (out.length > MAX_POLICY_PORTS) {
    throw bad(what, `a policy covers at most ${MAX_POLICY_PORTS} ports (this one ${out.length})`, ['omit --port to match every port, or use a firewall rule for a wide range']);
  }
  return out;
}
