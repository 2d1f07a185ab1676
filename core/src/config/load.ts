import * as fs from 'node:fs';
import type { Document, LineCounter, Node as YamlNode } from 'yaml';
import { ConfigError } from '@volt/sdk';
import { parseCidr, networkAddress } from '../net/ipv4';
import { subnet6Problem } from '../net/ipv6';
import type { ConfigFile } from './schema';
import { defaultConfig, type IngressConfig, type VoltConfig } from './defaults';

/** node:net loads only when a config file names an address (it costs a few ms at start-up; docs/decisions/0007-cli-startup-2.md). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const isIP = (s: string): number => (require('node:net') as typeof import('node:net')).isIP(s);

interface Located {
  path: string[];
  message: string;
}

/** The sections volt reads; everything else at the top level belongs to the rest of the platform. */
export const VOLT_SECTIONS = ['network', 'drivers', 'ingress'] as const;

export interface LoadOptions {
  /** Told once about the top-level sections volt ignored (shown under -v). */
  notice?(message: string): void;
  /** Told about an ignored section that looks like a misspelt volt section (always shown). */
  warn?(message: string): void;
}

/** Load `<root>/etc/volt/config.yaml`; a missing file means all defaults. */
export function loadConfig(file: string, opts: LoadOptions = {}): VoltConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return defaultConfig();
    throw new ConfigError(`read config ${file}: ${(e as Error).message}`, { code: 'E_CONFIG_READ' });
  }
  return parseConfig(text, file, opts);
}

/** Levenshtein distance, for "did you mean" on section names (short strings only). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

/** Parse and validate config text; every error names file:line:column and the key. */
export function parseConfig(text: string, file: string, opts: LoadOptions = {}): VoltConfig {
  // Loaded only when a config file exists: both are costly at start-up.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { LineCounter, parseDocument } = require('yaml') as typeof import('yaml');
  const { Value } = require('@sinclair/typebox/value') as typeof import('@sinclair/typebox/value');
  const { ConfigFile } = require('./schema') as typeof import('./schema');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const err = doc.errors[0]!;
    const pos = lineCounter.linePos(err.pos[0]);
    const why = err.message.split('\n')[0] ?? err.message;
    throw new ConfigError(`${file}:${pos.line}:${pos.col}: invalid YAML: ${why}`, {
      code: 'E_CONFIG_YAML',
      suggestions: ['check indentation: sections nest with two spaces (network:\\n  dns:\\n    enabled: true)'],
    });
  }
  const raw: unknown = doc.toJS() ?? {};
  const problems: Located[] = [];
  // config.yaml is shared by the whole platform: other top-level sections are not volt's to judge.
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    const ignored = Object.keys(raw).filter((k) => !(VOLT_SECTIONS as readonly string[]).includes(k));
    for (const k of ignored) {
      const near = VOLT_SECTIONS.find((v) => distance(k.toLowerCase(), v) <= 2);
      if (near !== undefined) {
        const { line, col } = locate(doc, lineCounter, [k]);
        opts.warn?.(`${file}:${line}:${col}: top-level section "${k}" is not volt's and is ignored; did you mean "${near}:"?`);
      }
      delete (raw as Record<string, unknown>)[k];
    }
    if (ignored.length > 0) opts.notice?.(`${file}: ignoring top-level section${ignored.length === 1 ? '' : 's'} ${ignored.map((k) => `"${k}"`).join(', ')} (not volt's; volt reads ${VOLT_SECTIONS.map((v) => `${v}:`).join(', ')})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push({ path: [], message: 'the file must be a mapping with the sections network:, drivers: and ingress:' });
  } else {
    for (const e of Value.Errors(ConfigFile, raw)) {
      const path = e.path.split('/').filter((s) => s.length > 0).map(unescapePointer);
      problems.push({ path, message: describeSchemaError(e.message, e.schema, path, e.value) });
    }
    if (problems.length === 0) problems.push(...semanticProblems(raw as ConfigFile));
  }
  if (problems.length > 0) {
    const lines = problems.slice(0, 5).map((p) => {
      const { line, col } = locate(doc, lineCounter, p.path);
      const key = p.path.length > 0 ? p.path.join('.') : '(top level)';
      return `${file}:${line}:${col}: ${key}: ${p.message}`;
    });
    throw new ConfigError(lines.join('\n'), {
      code: 'E_CONFIG_INVALID',
      suggestions: ['see docs/configuration.md for every key and its type', 'run `volt config show` to see the effective configuration'],
    });
  }
  return merge(raw as ConfigFile);
}

function unescapePointer(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

function describeSchemaError(message: string, schema: unknown, path: string[], value: unknown): string {
  if (/Unexpected property/i.test(message)) return `unknown key "${path[path.length - 1] ?? ''}"`;
  const s = schema as { pattern?: string; const?: unknown; anyOf?: SchemaPart[]; minimum?: number; maximum?: number };
  if (typeof value === 'number' && s.minimum !== undefined && s.maximum !== undefined && (value < s.minimum || value > s.maximum)) {
    return `${value} is out of range (${s.minimum}-${s.maximum})`;
  }
  if (s.anyOf && s.anyOf.every((x) => x.const !== undefined)) {
    return `must be one of ${s.anyOf.map((x) => JSON.stringify(x.const)).join(', ')}`;
  }
  if (s.anyOf) return `must be ${s.anyOf.map(describePart).join(' or ')}`;
  return message.charAt(0).toLowerCase() + message.slice(1);
}

interface SchemaPart {
  const?: unknown;
  type?: string;
  minimum?: number;
  maximum?: number;
}

function describePart(p: SchemaPart): string {
  if (p.const !== undefined) return JSON.stringify(p.const);
  const range = p.minimum !== undefined && p.maximum !== undefined ? ` ${p.minimum}-${p.maximum}` : '';
  return `${p.type === 'integer' ? 'an integer' : `a ${p.type ?? 'value'}`}${range}`;
}

function semanticProblems(c: ConfigFile): Located[] {
  const out: Located[] = [];
  const subnet = c.network?.default_subnet;
  if (subnet !== undefined) {
    const cidr = parseCidr(subnet);
    if (!cidr) out.push({ path: ['network', 'default_subnet'], message: `"${subnet}" is not an IPv4 CIDR like 10.0.0.0/24` });
    else if (networkAddress(cidr) !== cidr.address)
      out.push({ path: ['network', 'default_subnet'], message: `"${subnet}" has host bits set` });
    else if (cidr.prefix < 8 || cidr.prefix > 30)
      out.push({ path: ['network', 'default_subnet'], message: `prefix /${cidr.prefix} is out of range (/8 to /30)` });
  }
  const subnet6 = c.network?.default_subnet6;
  if (subnet6 !== undefined) {
    const problem = subnet6Problem(subnet6);
    if (problem !== undefined) out.push({ path: ['network', 'default_subnet6'], message: problem });
  }
  (c.network?.dns?.upstream ?? []).forEach((u, i) => {
    if (isIP(u) !== 0) return;
    // "[fd00::53]:53" or "1.1.1.1:53": an address with a port; volt-dns always asks port 53.
    const bare = /^\[([^\]]+)\](?::\d+)?$/.exec(u)?.[1] ?? /^([\d.]+):\d+$/.exec(u)?.[1];
    const hint = bare !== undefined && isIP(bare) !== 0 ? `: write the address alone (${bare}); volt-dns asks port 53` : '';
    out.push({ path: ['network', 'dns', 'upstream', String(i)], message: `"${u}" is not an IP address${hint}` });
  });
  (c.network?.firewall?.host_allow ?? []).forEach((a, i) => {
    const port = Number(a.split('/')[1]);
    if (port < 1 || port > 65535) out.push({ path: ['network', 'firewall', 'host_allow', String(i)], message: `port ${port} is out of range 1-65535` });
  });
  out.push(...ingressProblems(c.ingress));
  return out;
}

function ingressProblems(i: ConfigFile['ingress']): Located[] {
  const out: Located[] = [];
  if (i === undefined) return out;
  const at = (...p: string[]): string[] => ['ingress', ...p];
  if (i.address !== undefined && isIP(i.address) === 0) out.push({ path: at('address'), message: `"${i.address}" is not an IP address (e.g. 0.0.0.0, ::, 127.0.0.1)` });
  const d = defaultConfig().ingress;
  const http = i.http_port ?? d.http_port;
  const https = i.https_port ?? d.https_port;
  if (http === https) out.push({ path: at(i.https_port !== undefined ? 'https_port' : 'http_port'), message: `http_port and https_port are both ${http}` });
  const a = i.acme;
  if (a?.directory_url !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(a.directory_url);
    } catch (e: unknown) {
      void e;
    }
    if (u === undefined) out.push({ path: at('acme', 'directory_url'), message: `"${a.directory_url}" is not a URL` });
    else if (u.protocol !== 'https:') out.push({ path: at('acme', 'directory_url'), message: 'must be an https URL (ACME requires TLS)' });
  }
  if (a?.email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(a.email)) out.push({ path: at('acme', 'email'), message: `"${a.email}" is not an e-mail address` });
  const min = a?.retry_min ?? d.acme.retry_min;
  const max = a?.retry_max ?? d.acme.retry_max;
  if (max < min) out.push({ path: at('acme', a?.retry_max !== undefined ? 'retry_max' : 'retry_min'), message: `retry_max (${max} s) is below retry_min (${min} s)` });
  return out;
}

function mergeIngress(i: ConfigFile['ingress']): IngressConfig {
  const d = defaultConfig().ingress;
  if (i === undefined) return d;
  const acme: IngressConfig['acme'] = {
    directory_url: i.acme?.directory_url ?? d.acme.directory_url,
    renew_before: i.acme?.renew_before ?? d.acme.renew_before,
    retry_min: i.acme?.retry_min ?? d.acme.retry_min,
    retry_max: i.acme?.retry_max ?? d.acme.retry_max,
  };
  if (i.acme?.email !== undefined) acme.email = i.acme.email;
  if (i.acme?.ca !== undefined) acme.ca = i.acme.ca;
  return {
    http_port: i.http_port ?? d.http_port,
    https_port: i.https_port ?? d.https_port,
    address: i.address ?? d.address,
    workers: i.workers ?? d.workers,
    max_connections: i.max_connections ?? d.max_connections,
    max_header_size: i.max_header_size ?? d.max_header_size,
    max_headers: i.max_headers ?? d.max_headers,
    header_timeout: i.header_timeout ?? d.header_timeout,
    request_timeout: i.request_timeout ?? d.request_timeout,
    idle_timeout: i.idle_timeout ?? d.idle_timeout,
    drain_timeout: i.drain_timeout ?? d.drain_timeout,
    health: {
      interval: i.health?.interval ?? d.health.interval,
      timeout: i.health?.timeout ?? d.health.timeout,
      failures: i.health?.failures ?? d.health.failures,
    },
    acme,
  };
}

function merge(c: ConfigFile): VoltConfig {
  const d = defaultConfig();
  const n = c.network ?? {};
  return {
    network: {
      default_bridge: n.default_bridge ?? d.network.default_bridge,
      default_subnet: n.default_subnet ?? d.network.default_subnet,
      ...(n.default_subnet6 !== undefined ? { default_subnet6: n.default_subnet6 } : {}),
      mtu: n.mtu ?? d.network.mtu,
      dns: {
        enabled: n.dns?.enabled ?? d.network.dns.enabled,
        upstream: n.dns?.upstream ?? d.network.dns.upstream,
        search_domains: n.dns?.search_domains ?? d.network.dns.search_domains,
      },
      firewall: {
        host_input: n.firewall?.host_input ?? d.network.firewall.host_input,
        host_allow: n.firewall?.host_allow ?? d.network.firewall.host_allow,
      },
    },
    drivers: { ...(c.drivers ?? {}) },
    ingress: mergeIngress(c.ingress),
  };
}

/** Line and column of the key at `path` (or the closest existing ancestor). */
function locate(doc: Document, lc: LineCounter, path: string[]): { line: number; col: number } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { isMap, isScalar } = require('yaml') as typeof import('yaml');
  let node: unknown = doc.contents;
  let offset = (doc.contents as YamlNode | null)?.range?.[0] ?? 0;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === seg);
      if (!pair) break;
      offset = (pair.key as YamlNode).range?.[0] ?? offset;
      node = pair.value;
    } else if (node && typeof node === 'object' && 'items' in node && Array.isArray((node as { items: unknown[] }).items)) {
      const item = (node as { items: unknown[] }).items[Number(seg)] as YamlNode | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return lc.linePos(offset);
}
