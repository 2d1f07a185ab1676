import * as path from 'node:path';
import type { Document, LineCounter, Node as YamlNode, YAMLMap } from 'yaml';
import { UserInputError } from '@volt/sdk';
import { broadcastAddress, contains, formatIPv4, networkAddress, parseCidr, parseIPv4 } from '../../net/ipv4';
import { isEncodableName } from '../dns/dns-records';
import { parseSubnet } from '../network/network-plan';
import { canonicalCidr6, canonicalIPv6, formatIPv6, nthAddress6, parseCidr6, subnet6Problem } from '../../net/ipv6';

/*
 * The part of a Compose file volt acts on: the top-level `networks:` element
 * and `services.*.networks` (list and map form). Everything else is ignored.
 * Every error names file:line:col of the key or value at fault.
 */

/** Labels volt puts on the networks a Compose project created (the names Compose itself uses). */
export const PROJECT_LABEL = 'com.docker.compose.project';
export const NETWORK_LABEL = 'com.docker.compose.network';

export interface ComposeNetwork {
  /** Key under `networks:` ("frontend"). */
  key: string;
  /** The volt network: PROJECT_KEY, or `name:`; for an external network `name:` or the key. */
  name: string;
  external: boolean;
  subnet?: string;
  /** `enable_ipv6: true` with an IPv6 `ipam.config[].subnet`, canonical ("fd00:20::/64"). */
  subnet6?: string;
  gateway?: string;
  /** `ipam.config[].ip_range` as a volt address range ("10.20.0.128-10.20.0.254"). */
  containerRange?: string;
  mtu?: number;
  internal: boolean;
  labels: Record<string, string>;
  /** "file:line:col" of the key, for messages. */
  at: string;
  /**
   * The `default` network without a subnet (implicit, as Compose makes it for
   * services without `networks:`, or declared without ipam): `up` reuses the
   * project's existing one or picks a free /24 (DEFAULT_SUBNET_POOL).
   */
  autoSubnet?: boolean;
}

/** The network services without `networks:` join, named PROJECT_default, as in Compose. */
export const DEFAULT_NETWORK_KEY = 'default';

export interface ComposeServiceNetwork {
  /** Key of the network under the top-level `networks:`. */
  key: string;
  ipv4Address?: string;
  aliases: string[];
  at: string;
  /** Joined because the service has no `networks:` (the project's default network). */
  implicit?: boolean;
}

export interface ComposeService {
  name: string;
  containerName?: string;
  networks: ComposeServiceNetwork[];
  at: string;
}

export interface ComposeProject {
  project: string;
  file: string;
  networks: ComposeNetwork[];
  services: ComposeService[];
}

/** Compose's normalisation of a project name: lower case, only [a-z0-9_-], starting with a letter or digit. */
export function normalizeProjectName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '')
    .replace(/^[^a-z0-9]+/, '');
}

type Y = typeof import('yaml');

class Ctx {
  constructor(
    readonly y: Y,
    readonly file: string,
    readonly lc: LineCounter,
  ) {}
  at(node: YamlNode | null | undefined): string {
    const { line, col } = this.lc.linePos(node?.range?.[0] ?? 0);
    return `${this.file}:${line}:${col}`;
  }
  fail(node: YamlNode | null | undefined, key: string, message: string, suggestions: string[] = [], code = 'E_COMPOSE_INVALID'): never {
    throw new UserInputError(`${this.at(node)}: ${key}: ${message}`, { code, suggestions });
  }
}

function entries(c: Ctx, node: unknown, key: string): [string, YamlNode, YamlNode | null][] {
  if (node === null || node === undefined) return [];
  if (c.y.isScalar(node) && (node.value === null || node.value === undefined)) return [];
  if (!c.y.isMap(node)) c.fail(node as YamlNode, key, 'must be a mapping');
  return (node as YAMLMap).items.map((p) => {
    const k = p.key as YamlNode;
    if (!c.y.isScalar(k)) c.fail(k, key, 'keys must be plain strings');
    return [String(k.value), k, (p.value as YamlNode | null) ?? null] as [string, YamlNode, YamlNode | null];
  });
}

function get(c: Ctx, node: YamlNode | null, name: string): { key: YamlNode; value: YamlNode | null } | undefined {
  if (!node || !c.y.isMap(node)) return undefined;
  const p = node.items.find((i) => c.y.isScalar(i.key) && String(i.key.value) === name);
  return p ? { key: p.key as YamlNode, value: (p.value as YamlNode | null) ?? null } : undefined;
}

function scalar(c: Ctx, node: YamlNode | null, key: string): string | number | boolean | null {
  if (node === null) return null;
  if (!c.y.isScalar(node)) c.fail(node, key, 'must be a single value');
  const v = node.value;
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  return String(v);
}

function str(c: Ctx, node: YamlNode | null, key: string): string {
  const v = scalar(c, node, key);
  if (typeof v !== 'string' && typeof v !== 'number') c.fail(node, key, 'must be a string');
  return String(v);
}

function bool(c: Ctx, node: YamlNode | null, key: string): boolean {
  const v = scalar(c, node, key);
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false' || v === null) return false;
  return c.fail(node, key, 'must be true or false');
}

function mtuOf(c: Ctx, node: YamlNode | null, key: string): number {
  const v = scalar(c, node, key);
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 576 || n > 65535) c.fail(node, key, `MTU ${String(v)} is not an integer from 576 to 65535`);
  return n;
}

/** `labels:` as a map or as a list of KEY=VALUE. */
function labelsOf(c: Ctx, node: YamlNode | null, key: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (node === null) return out;
  if (c.y.isSeq(node)) {
    for (const item of node.items as YamlNode[]) {
      const s = str(c, item, key);
      const i = s.indexOf('=');
      out[i < 0 ? s : s.slice(0, i)] = i < 0 ? '' : s.slice(i + 1);
    }
    return out;
  }
  for (const [k, , v] of entries(c, node, key)) {
    const s = scalar(c, v, `${key}.${k}`);
    out[k] = s === null ? '' : String(s);
  }
  return out;
}

const NETWORK_NAME = /^[a-z0-9][a-z0-9_-]*$/;

function parseNetwork(c: Ctx, project: string, key: string, keyNode: YamlNode, node: YamlNode | null): ComposeNetwork {
  const where = `networks.${key}`;
  const ext = get(c, node, 'external');
  const external = ext ? (c.y.isMap(ext.value) ? true : bool(c, ext.value, `${where}.external`)) : false;
  const nameEntry = get(c, node, 'name');
  const explicit = nameEntry ? str(c, nameEntry.value, `${where}.name`) : undefined;
  // `external: {name: X}` is the older spelling of `external: true` + `name: X`.
  const legacyName = ext && c.y.isMap(ext.value) ? get(c, ext.value, 'name') : undefined;
  const name = explicit ?? (legacyName ? str(c, legacyName.value, `${where}.external.name`) : external ? key : `${project}_${key}`);
  const nameAt = nameEntry?.value ?? legacyName?.value ?? keyNode;
  if (name.length > 32 || !NETWORK_NAME.test(name)) {
    c.fail(nameAt, where, `network name "${name}" is not a valid volt network name (1-32 characters of lower-case letters, digits, "-" and "_")`, [
      explicit || external ? 'set `name:` to a valid name' : 'choose a shorter project name with -p PROJECT, or set `name:` on the network',
    ]);
  }
  const net: ComposeNetwork = { key, name, external, internal: false, labels: {}, at: c.at(keyNode) };
  const v6 = get(c, node, 'enable_ipv6');
  const enableIpv6 = v6 !== undefined && bool(c, v6.value, `${where}.enable_ipv6`);
  // An external network is dual-stack or not as it was created: nothing to map.
  if (external) return net;
  const driver = get(c, node, 'driver');
  if (driver) {
    const d = str(c, driver.value, `${where}.driver`);
    if (d !== 'bridge') c.fail(driver.value, `${where}.driver`, `driver "${d}" is not supported; volt networks are bridges`, ['use driver: bridge (or leave it out)'], 'E_COMPOSE_UNSUPPORTED');
  }
  const internal = get(c, node, 'internal');
  if (internal) net.internal = bool(c, internal.value, `${where}.internal`);
  const labels = get(c, node, 'labels');
  if (labels) net.labels = labelsOf(c, labels.value, `${where}.labels`);

  // The guide's short form: subnet, gateway, options.mtu.
  let subnetNode: YamlNode | null = null;
  const subnet = get(c, node, 'subnet');
  if (subnet) {
    net.subnet = str(c, subnet.value, `${where}.subnet`);
    subnetNode = subnet.value;
  }
  let gatewayNode: YamlNode | null = null;
  const gateway = get(c, node, 'gateway');
  if (gateway) {
    net.gateway = str(c, gateway.value, `${where}.gateway`);
    gatewayNode = gateway.value;
  }
  for (const optKey of ['options', 'driver_opts']) {
    const opts = get(c, node, optKey);
    if (!opts) continue;
    for (const [k, kn, v] of entries(c, opts.value, `${where}.${optKey}`)) {
      if (k === 'mtu' || k === 'com.docker.network.driver.mtu') net.mtu = mtuOf(c, v ?? kn, `${where}.${optKey}.${k}`);
    }
  }
  // The spec's long form: ipam.config[].subnet / gateway / ip_range.
  const ipam = get(c, node, 'ipam');
  const config = ipam ? get(c, ipam.value, 'config') : undefined;
  if (config && config.value !== null) {
    if (!c.y.isSeq(config.value)) c.fail(config.value, `${where}.ipam.config`, 'must be a list of {subnet, gateway, ip_range}');
    const items = config.value.items as YamlNode[];
    const v4 = items.filter((it) => {
      const s = get(c, it, 'subnet');
      return !s || !String(scalar(c, s.value, 'subnet')).includes(':');
    });
    if (v4.length > 1) c.fail(v4[1], `${where}.ipam.config`, 'volt networks have one IPv4 subnet; give only one entry');
    const v6items = items.filter((it) => !v4.includes(it));
    if (v6items.length > 1) c.fail(v6items[1]!, `${where}.ipam.config`, 'volt networks have one IPv6 prefix; give only one IPv6 entry');
    const it6 = v6items[0];
    if (it6) {
      if (!enableIpv6) c.fail(it6, `${where}.ipam.config`, 'an IPv6 subnet needs `enable_ipv6: true` on the network', ['add enable_ipv6: true, or remove the IPv6 entry'], 'E_SUBNET6_INVALID');
      const s6 = get(c, it6, 'subnet')!;
      const text = str(c, s6.value, `${where}.ipam.config[].subnet`);
      const problem = subnet6Problem(text);
      if (problem !== undefined) c.fail(s6.value, `${where}.ipam.config[].subnet`, problem, ['e.g. subnet: fd00:20::/64'], 'E_SUBNET6_INVALID');
      const g6 = get(c, it6, 'gateway');
      const c6 = parseCidr6(text)!;
      const first = formatIPv6(nthAddress6(c6, 1));
      if (g6 && canonicalIPv6(str(c, g6.value, `${where}.ipam.config[].gateway`)) !== first) {
        c.fail(g6.value, `${where}.ipam.config[].gateway`, `volt's IPv6 gateway is always the prefix's ::1 (${first})`, [`remove the gateway, or set it to ${first}`], 'E_COMPOSE_UNSUPPORTED');
      }
      if (get(c, it6, 'ip_range')) c.fail(it6, `${where}.ipam.config[].ip_range`, 'ip_range is not supported for IPv6 prefixes', ['remove it (containers get the IPv4 host part in the prefix)'], 'E_COMPOSE_UNSUPPORTED');
      net.subnet6 = canonicalCidr6(c6);
    }
    const it = v4[0];
    if (it) {
      if (net.subnet !== undefined) c.fail(it, `${where}.ipam.config`, 'the subnet is given twice (subnet: and ipam.config)', ['keep one of them']);
      const s = get(c, it, 'subnet');
      if (s) {
        net.subnet = str(c, s.value, `${where}.ipam.config[0].subnet`);
        subnetNode = s.value;
      }
      const g = get(c, it, 'gateway');
      if (g) {
        net.gateway = str(c, g.value, `${where}.ipam.config[0].gateway`);
        gatewayNode = g.value;
      }
      const r = get(c, it, 'ip_range');
      if (r) {
        const text = str(c, r.value, `${where}.ipam.config[0].ip_range`);
        net.containerRange = rangeOf(c, r.value, `${where}.ipam.config[0].ip_range`, text, net.subnet);
      }
    }
  }
  if (enableIpv6 && net.subnet6 === undefined && v6 !== undefined) {
    c.fail(v6.key, `${where}.enable_ipv6`, 'volt does not pick IPv6 prefixes: give one in ipam.config', ['add ipam: {config: [{subnet: 10.20.0.0/24}, {subnet: fd00:20::/64}]}'], 'E_SUBNET6_INVALID');
  }
  if (net.subnet === undefined && key === DEFAULT_NETWORK_KEY) {
    net.autoSubnet = true;
    return net;
  }
  if (net.subnet === undefined) {
    c.fail(keyNode, where, 'volt needs a subnet for every network it creates', [
      'add `subnet: 10.20.0.0/24` (or ipam: {config: [{subnet: 10.20.0.0/24}]})',
      'or mark an existing volt network `external: true`',
    ]);
  }
  try {
    parseSubnet(net.subnet, `${where}.subnet`);
  } catch (e: unknown) {
    const msg = (e as Error).message.replace(/^[^:]*: /, '');
    c.fail(subnetNode, `${where}.subnet`, msg, (e as UserInputError).suggestions?.map((s) => s.replace('--subnet', 'subnet:')) ?? [], 'E_SUBNET_INVALID');
  }
  if (net.gateway !== undefined) {
    const g = parseIPv4(net.gateway);
    const cidr = parseCidr(net.subnet)!;
    if (g === undefined || !contains(cidr, g) || g === networkAddress(cidr) || g === broadcastAddress(cidr)) {
      c.fail(gatewayNode, `${where}.gateway`, `"${net.gateway}" is not a usable address of ${net.subnet}`, [`e.g. ${formatIPv4(networkAddress(cidr) + 1)}`], 'E_GATEWAY_INVALID');
    }
  }
  return net;
}

/** An ip_range CIDR ("10.20.0.128/25") as a volt range of its usable addresses inside the subnet. */
function rangeOf(c: Ctx, node: YamlNode | null, key: string, text: string, subnet: string | undefined): string {
  const r = parseCidr(text);
  const s = subnet === undefined ? undefined : parseCidr(subnet);
  if (!r) c.fail(node, key, `"${text}" is not an IPv4 range in CIDR form`, ['e.g. ip_range: 10.20.0.128/25']);
  if (!s) c.fail(node, key, 'ip_range needs a subnet in the same ipam.config entry');
  let first = networkAddress(r);
  let last = broadcastAddress(r);
  if (first === networkAddress(s)) first += 1;
  if (last === broadcastAddress(s)) last -= 1;
  if (!contains(s, networkAddress(r)) || !contains(s, broadcastAddress(r)) || first > last) {
    c.fail(node, key, `range ${text} is not inside the subnet ${subnet}`);
  }
  return `${formatIPv4(first)}-${formatIPv4(last)}`;
}

function parseService(c: Ctx, name: string, keyNode: YamlNode, node: YamlNode | null, nets: Map<string, ComposeNetwork>): ComposeService {
  const svc: ComposeService = { name, networks: [], at: c.at(keyNode) };
  const cn = get(c, node, 'container_name');
  if (cn) svc.containerName = str(c, cn.value, `services.${name}.container_name`);
  const n = get(c, node, 'networks');
  if (!n || n.value === null) {
    // Compose: no networks: means the project's default network, unless network_mode says otherwise
    // (host, none, service:X, container:X share or have no network of their own).
    if (!get(c, node, 'network_mode')) svc.networks.push({ key: DEFAULT_NETWORK_KEY, aliases: [], at: c.at(keyNode), implicit: true });
    return svc;
  }
  const where = `services.${name}.networks`;
  const list: [string, YamlNode, YamlNode | null][] = c.y.isSeq(n.value)
    ? (n.value.items as YamlNode[]).map((it) => [str(c, it, where), it, null])
    : entries(c, n.value, where);
  for (const [key, kn, v] of list) {
    const net = nets.get(key);
    if (!net) {
      c.fail(kn, `${where}.${key}`, `network "${key}" is not declared under the top-level networks:`, [
        nets.size > 0 ? `declared networks: ${[...nets.keys()].join(', ')}` : 'declare it under networks: with a subnet',
      ], 'E_COMPOSE_NETWORK_UNDECLARED');
    }
    const sn: ComposeServiceNetwork = { key, aliases: [], at: c.at(kn) };
    const ip = get(c, v, 'ipv4_address');
    if (ip) {
      sn.ipv4Address = str(c, ip.value, `${where}.${key}.ipv4_address`);
      const a = parseIPv4(sn.ipv4Address);
      const cidr = net.subnet === undefined ? undefined : parseCidr(net.subnet);
      if (a === undefined) c.fail(ip.value, `${where}.${key}.ipv4_address`, `"${sn.ipv4Address}" is not an IPv4 address`);
      if (cidr && (!contains(cidr, a) || a === networkAddress(cidr) || a === broadcastAddress(cidr))) {
        c.fail(ip.value, `${where}.${key}.ipv4_address`, `${sn.ipv4Address} is not a usable address of ${net.subnet}`);
      }
    }
    const al = get(c, v, 'aliases');
    if (al && al.value !== null) {
      if (!c.y.isSeq(al.value)) c.fail(al.value, `${where}.${key}.aliases`, 'must be a list of names');
      for (const it of al.value.items as YamlNode[]) {
        const alias = str(c, it, `${where}.${key}.aliases`).toLowerCase();
        if (!isEncodableName(alias) || !/^[a-z0-9_.-]+$/.test(alias)) c.fail(it, `${where}.${key}.aliases`, `"${alias}" is not a valid DNS name`);
        if (!sn.aliases.includes(alias)) sn.aliases.push(alias);
      }
    }
    if (v !== null && !c.y.isMap(v) && !(c.y.isScalar(v) && v.value === null)) c.fail(v, `${where}.${key}`, 'must be a mapping (ipv4_address:, aliases:) or empty');
    svc.networks.push(sn);
  }
  return svc;
}

/**
 * Parse a Compose file's networks. `project` (from -p) wins over the file's
 * top-level `name:`, which wins over the directory name of the file.
 */
export function parseCompose(text: string, file: string, opts: { project?: string } = {}): ComposeProject {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const y = require('yaml') as Y;
  const lc = new y.LineCounter();
  const doc: Document = y.parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const c = new Ctx(y, file, lc);
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    const pos = lc.linePos(err.pos[0]);
    throw new UserInputError(`${file}:${pos.line}:${pos.col}: invalid YAML: ${err.message.split('\n')[0] ?? err.message}`, {
      code: 'E_COMPOSE_YAML',
      suggestions: ['check indentation and quoting near that position'],
    });
  }
  const root = doc.contents as YamlNode | null;
  if (root !== null && !y.isMap(root)) c.fail(root, '(top level)', 'a Compose file is a mapping (services:, networks:, …)');

  let raw: string;
  let source: string;
  const nameEntry = get(c, root, 'name');
  if (opts.project !== undefined) {
    raw = opts.project;
    source = '-p';
  } else if (nameEntry) {
    raw = str(c, nameEntry.value, 'name');
    source = `${c.at(nameEntry.value)}: name`;
  } else {
    raw = path.basename(path.dirname(path.resolve(file)));
    source = `the directory name of ${file}`;
  }
  const project = normalizeProjectName(raw);
  if (project.length === 0) {
    throw new UserInputError(`project name "${raw}" (from ${source}) has no letters or digits`, { code: 'E_COMPOSE_PROJECT', suggestions: ['pass -p PROJECT'] });
  }

  const nets = new Map<string, ComposeNetwork>();
  const netsNode = get(c, root, 'networks');
  for (const [key, kn, v] of entries(c, netsNode?.value ?? null, 'networks')) nets.set(key, parseNetwork(c, project, key, kn, v));
  const byName = new Map<string, string>();
  for (const n of nets.values()) {
    const other = byName.get(n.name);
    if (other !== undefined) c.fail(get(c, netsNode!.value, n.key)!.key, `networks.${n.key}`, `names the same volt network "${n.name}" as networks.${other}`);
    byName.set(n.name, n.key);
  }
  const services: ComposeService[] = [];
  const svcNode = get(c, root, 'services');
  for (const [name, kn, v] of entries(c, svcNode?.value ?? null, 'services')) services.push(parseService(c, name, kn, v, nets));
  // The implicit default network exists only when a service uses it (as in Compose).
  if (!nets.has(DEFAULT_NETWORK_KEY) && services.some((s) => s.networks.some((n) => n.implicit))) {
    const name = `${project}_${DEFAULT_NETWORK_KEY}`;
    if (name.length > 32 || !NETWORK_NAME.test(name)) {
      throw new UserInputError(`${file}: network "${name}" (the default network of services without networks:) is not a valid volt network name (at most 32 characters)`, {
        code: 'E_COMPOSE_INVALID',
        suggestions: ['choose a shorter project name with -p PROJECT', 'or declare networks: {default: {name: NAME}}'],
      });
    }
    nets.set(DEFAULT_NETWORK_KEY, { key: DEFAULT_NETWORK_KEY, name, external: false, internal: false, labels: {}, at: `${file}:1:1`, autoSubnet: true });
  }
  // Two services asking for the same fixed address on one network.
  const taken = new Map<string, string>();
  for (const s of services) {
    for (const sn of s.networks) {
      if (sn.ipv4Address === undefined) continue;
      const k = `${sn.key}/${sn.ipv4Address}`;
      const other = taken.get(k);
      if (other !== undefined) throw new UserInputError(`${sn.at}: services.${s.name}.networks.${sn.key}.ipv4_address: ${sn.ipv4Address} is also given to service "${other}"`, { code: 'E_COMPOSE_INVALID' });
      taken.set(k, s.name);
    }
  }
  return { project, file, networks: [...nets.values()], services };
}
