import * as fs from 'node:fs';
import * as path from 'node:path';
import { isIP } from 'node:net';
import type { Document, LineCounter, Node as YamlNode } from 'yaml';
import { UserInputError } from '@volt/sdk';
import { contains, parseCidr, parseIPv4 } from '../../net/ipv4';
import { canonicalIPv6, contains6, ipv6Problem, parseCidr6, parseIPv6 } from '../../net/ipv6';
import type { NetworkRecord, VmNicRecord } from '../../state/types';
import { parseMac } from '../attachments/mac';
import { VmConfigSchema, type VmConfigFile } from './vm-config-schema';

/** A VM config after validation: defaults applied, paths absolute. */
export interface VmConfig {
  vcpus: number;
  memory_mib: number;
  kernel: string;
  initrd?: string;
  cmdline?: string;
  disk?: { path: string; format: 'raw' | 'qcow2'; readonly: boolean };
  accel: 'auto' | 'kvm' | 'tcg';
  machine: string;
  network: VmNicConfig[];
}

export interface VmNicConfig {
  id: string;
  network: string;
  mode?: string;
  mac?: string;
  ip?: string;
  ip6?: string;
  vhost: boolean;
  mtu?: number;
  multiqueue: number;
}

export interface VmConfigContext {
  /** Networks in state, to resolve `network` / `bridge`. */
  networks: Record<string, NetworkRecord>;
  /** The default network's name (config.network.default_bridge): used when a NIC names none; it is created on first use. */
  defaultNetwork: string;
  /** vm-nic driver names a NIC's `mode` may name. */
  nicDrivers: string[];
}

interface Problem {
  path: (string | number)[];
  message: string;
}

/** `mode` aliases: the spec's "direct" is the direct-tap driver. */
const MODE_ALIASES: Record<string, string> = { direct: 'direct-tap' };

/**
 * Parse and validate a VM config file. Every problem names file:line:column
 * and the JSON path (`network[1].mtu`); up to five are reported at once.
 */
export function parseVmConfig(text: string, file: string, ctx: VmConfigContext): VmConfig {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { LineCounter, parseDocument } = require('yaml') as typeof import('yaml');
  const { Value } = require('@sinclair/typebox/value') as typeof import('@sinclair/typebox/value');
  /* eslint-enable @typescript-eslint/no-require-imports */
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e: unknown) {
    const m = /position (\d+)/.exec((e as Error).message);
    const where = m ? lineCol(text, Number(m[1])) : { line: 1, col: 1 };
    throw new UserInputError(`${file}:${where.line}:${where.col}: not valid JSON: ${(e as Error).message}`, {
      code: 'E_VM_CONFIG_JSON',
      suggestions: ['see docs/vms.md for the format'],
    });
  }
  // JSON is YAML; the YAML parser gives positions (and catches duplicate keys, which JSON.parse drops silently).
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const problems: Problem[] = [];
  for (const err of doc.errors) {
    if (/unique/i.test(err.message)) problems.push({ path: [], message: `duplicate key (${err.message.split('\n')[0] ?? ''})` });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push({ path: [], message: 'the file must be a JSON object ({"kernel": …, "network": […]})' });
  } else {
    const seen = new Set<string>();
    for (const e of Value.Errors(VmConfigSchema, raw)) {
      const p = e.path
        .split('/')
        .filter((s) => s.length > 0)
        .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
      const key = p.join('/');
      if (seen.has(key)) continue;
      seen.add(key);
      problems.push({ path: p, message: describe(e.message, e.schema, p, e.value) });
    }
  }
  let config: VmConfig | undefined;
  if (problems.length === 0) {
    const r = semantic(raw as VmConfigFile, path.dirname(path.resolve(file)), ctx);
    problems.push(...r.problems);
    config = r.config;
  }
  if (problems.length > 0 || !config) {
    // In file order, so the list reads top to bottom like the file.
    const located = problems
      .map((p) => ({ p, at: locate(doc, lc, p.path) }))
      .sort((a, b) => a.at.line - b.at.line || a.at.col - b.at.col);
    const lines = located.slice(0, 5).map(({ p, at }) => `${file}:${at.line}:${at.col}: ${formatPath(p.path)}: ${p.message}`);
    if (problems.length > 5) lines.push(`… and ${problems.length - 5} more`);
    throw new UserInputError(`VM config ${lines.length === 1 ? 'is invalid' : 'has problems'}:\n  ${lines.join('\n  ')}`, {
      code: 'E_VM_CONFIG_INVALID',
      suggestions: ['see docs/vms.md for every key and its type'],
    });
  }
  return config;
}

export function formatPath(p: (string | number)[]): string {
  if (p.length === 0) return '(top level)';
  return p.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

function describe(message: string, schema: unknown, p: (string | number)[], value: unknown): string {
  if (/Unexpected property/i.test(message)) return `unknown key "${String(p[p.length - 1] ?? '')}"`;
  if (/Expected required property/i.test(message)) return 'is required';
  const s = schema as { anyOf?: { const?: unknown }[]; minimum?: number; maximum?: number; type?: string; pattern?: string };
  if (s.anyOf && s.anyOf.every((x) => x.const !== undefined)) return `must be one of ${s.anyOf.map((x) => JSON.stringify(x.const)).join(', ')}`;
  if (s.type === 'integer' && s.minimum !== undefined && s.maximum !== undefined && /less|greater/i.test(message)) {
    return `must be an integer from ${s.minimum} to ${s.maximum}`;
  }
  if (s.pattern !== undefined && /match/i.test(message)) return `${JSON.stringify(value)} does not match ${s.pattern}`;
  return message.charAt(0).toLowerCase() + message.slice(1);
}

function semantic(c: VmConfigFile, baseDir: string, ctx: VmConfigContext): { problems: Problem[]; config?: VmConfig } {
  const problems: Problem[] = [];
  const file = (p: string | undefined, key: (string | number)[]): string | undefined => {
    if (p === undefined) return undefined;
    const abs = path.resolve(baseDir, p);
    try {
      fs.accessSync(abs, fs.constants.R_OK);
      if (!fs.statSync(abs).isFile()) problems.push({ path: key, message: `${abs} is not a file` });
    } catch {
      problems.push({ path: key, message: `${abs} does not exist or is not readable` });
    }
    return abs;
  };
  const kernel = file(c.kernel, ['kernel'])!;
  const initrd = file(c.initrd, ['initrd']);
  let disk: VmConfig['disk'];
  if (c.disk !== undefined) {
    const d = typeof c.disk === 'string' ? { path: c.disk } : c.disk;
    const key = typeof c.disk === 'string' ? ['disk'] : ['disk', 'path'];
    disk = { path: file(d.path, key)!, format: d.format ?? 'raw', readonly: d.readonly ?? false };
  }

  const ids = new Map<string, number>();
  const macs = new Map<string, number>();
  const nics: VmNicConfig[] = [];
  (c.network ?? []).forEach((n, i) => {
    const id = n.id ?? `eth${i}`;
    if (ids.has(id)) problems.push({ path: ['network', i, 'id'], message: `duplicate NIC id "${id}" (also network[${ids.get(id)}])` });
    ids.set(id, i);
    let mac: string | undefined;
    if (n.mac !== undefined) {
      try {
        mac = parseMac(n.mac, 'mac');
      } catch (e: unknown) {
        problems.push({ path: ['network', i, 'mac'], message: (e as Error).message.replace(/^mac: /, '') });
      }
      if (mac !== undefined && macs.has(mac)) problems.push({ path: ['network', i, 'mac'], message: `duplicate MAC ${mac} (also network[${macs.get(mac)}])` });
      if (mac !== undefined) macs.set(mac, i);
    }
    const network = resolveNetwork(n, i, ctx, problems);
    let mode: string | undefined;
    if (n.mode !== undefined) {
      mode = MODE_ALIASES[n.mode] ?? n.mode;
      if (!ctx.nicDrivers.includes(mode)) {
        problems.push({ path: ['network', i, 'mode'], message: `"${n.mode}" is not an installed vm-nic driver (valid: ${ctx.nicDrivers.join(', ') || 'none'})` });
      }
    }
    if (n.ip !== undefined) {
      const net = network === undefined ? undefined : ctx.networks[network];
      const ip = parseIPv4(n.ip);
      if (isIP(n.ip) !== 4 || ip === undefined) problems.push({ path: ['network', i, 'ip'], message: `"${n.ip}" is not an IPv4 address` });
      else if (net && !contains(parseCidr(net.subnet)!, ip)) problems.push({ path: ['network', i, 'ip'], message: `${n.ip} is outside ${net.subnet} (network "${net.name}")` });
    }
    let ip6: string | undefined;
    if (n.ip6 !== undefined) {
      const net = network === undefined ? undefined : ctx.networks[network];
      const problem = ipv6Problem(n.ip6);
      if (problem !== undefined) problems.push({ path: ['network', i, 'ip6'], message: `"${n.ip6}" is not an IPv6 address: ${problem}` });
      else if (net && net.subnet6 === undefined) problems.push({ path: ['network', i, 'ip6'], message: `network "${net.name}" has no IPv6 prefix (create it with --subnet6)` });
      else if (net && !contains6(parseCidr6(net.subnet6!)!, parseIPv6(n.ip6)!)) problems.push({ path: ['network', i, 'ip6'], message: `${n.ip6} is outside ${net.subnet6} (network "${net.name}")` });
      else ip6 = canonicalIPv6(n.ip6);
    }
    if (n.mtu !== undefined && network !== undefined && ctx.networks[network] && n.mtu > ctx.networks[network]!.mtu) {
      problems.push({
        path: ['network', i, 'mtu'],
        message: `${n.mtu} is larger than the MTU of network "${network}" (${ctx.networks[network]!.mtu}); frames that size would be dropped at the bridge`,
      });
    }
    nics.push({ id, network: network ?? '', mode, mac, ip: n.ip, ...(ip6 !== undefined ? { ip6 } : {}), vhost: n.vhost ?? true, mtu: n.mtu, multiqueue: n.multiqueue ?? 1 });
  });
  if (problems.length > 0) return { problems };
  return {
    problems,
    config: {
      vcpus: c.vcpus ?? 1,
      memory_mib: c.memory_mib ?? 256,
      kernel,
      initrd,
      cmdline: c.cmdline,
      disk,
      accel: c.accel ?? 'auto',
      machine: c.machine ?? 'q35',
      network: nics,
    },
  };
}

/** `network` by name, or `bridge` by the kernel name of a network's bridge (or its name); neither: the default network. */
function resolveNetwork(n: { network?: string; bridge?: string }, i: number, ctx: VmConfigContext, problems: Problem[]): string | undefined {
  const known = Object.values(ctx.networks);
  const list = known.map((x) => `${x.name} (bridge ${x.bridge})`).join(', ') || 'none';
  let byNetwork: string | undefined;
  if (n.network !== undefined) {
    if (ctx.networks[n.network] || n.network === ctx.defaultNetwork) byNetwork = n.network;
    else {
      problems.push({ path: ['network', i, 'network'], message: `unknown network "${n.network}" (known: ${list})` });
      return undefined;
    }
  }
  let byBridge: string | undefined;
  if (n.bridge !== undefined) {
    byBridge = known.find((x) => x.bridge === n.bridge)?.name ?? (ctx.networks[n.bridge] ? n.bridge : undefined);
    if (byBridge === undefined && n.bridge === ctx.defaultNetwork && !ctx.networks[ctx.defaultNetwork]) byBridge = ctx.defaultNetwork;
    if (byBridge === undefined) {
      problems.push({ path: ['network', i, 'bridge'], message: `no network uses bridge "${n.bridge}" (known: ${list})` });
      return undefined;
    }
  }
  if (byNetwork !== undefined && byBridge !== undefined && byNetwork !== byBridge) {
    problems.push({ path: ['network', i, 'bridge'], message: `bridge "${n.bridge}" belongs to network "${byBridge}", not "${byNetwork}"` });
    return undefined;
  }
  return byNetwork ?? byBridge ?? ctx.defaultNetwork;
}

export function nicRecords(c: VmConfig): VmNicRecord[] {
  return c.network.map((n) => ({
    id: n.id,
    network: n.network,
    mac: n.mac,
    ip: n.ip,
    ...(n.ip6 !== undefined ? { ip6: n.ip6 } : {}),
    mtu: n.mtu,
    vhost: n.vhost,
    queues: n.multiqueue,
    mode: n.mode,
  }));
}

function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, col: (before[before.length - 1]?.length ?? 0) + 1 };
}

/** Line and column of the value at `path` (or its closest existing ancestor). */
function locate(doc: Document, lc: LineCounter, p: (string | number)[]): { line: number; col: number } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { isMap, isSeq, isScalar } = require('yaml') as typeof import('yaml');
  let node: unknown = doc.contents;
  let offset = (doc.contents as YamlNode | null)?.range?.[0] ?? 0;
  for (const seg of p) {
    if (isMap(node)) {
      const pair = node.items.find((x) => isScalar(x.key) && String(x.key.value) === String(seg));
      if (!pair) break;
      offset = (pair.key as YamlNode).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)] as YamlNode | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return lc.linePos(offset);
}
