import * as fs from 'node:fs';
import { isIP } from 'node:net';
import type { Document, LineCounter, Node as YamlNode } from 'yaml';
import { ConfigError } from '../errors';
import { parseCidr, networkAddress } from '../net/ipv4';
import type { ConfigFile } from './schema';
import { defaultConfig, type VoltConfig } from './defaults';

interface Located {
  path: string[];
  message: string;
}

/** Load `<root>/etc/volt/config.yaml`; a missing file means all defaults. */
export function loadConfig(file: string): VoltConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return defaultConfig();
    throw new ConfigError(`read config ${file}: ${(e as Error).message}`, { code: 'E_CONFIG_READ' });
  }
  return parseConfig(text, file);
}

/** Parse and validate config text; every error names file:line:column and the key. */
export function parseConfig(text: string, file: string): VoltConfig {
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
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push({ path: [], message: 'the file must be a mapping with the sections network: and drivers:' });
  } else {
    for (const e of Value.Errors(ConfigFile, raw)) {
      const path = e.path.split('/').filter((s) => s.length > 0).map(unescapePointer);
      problems.push({ path, message: describeSchemaError(e.message, e.schema, path) });
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

function describeSchemaError(message: string, schema: unknown, path: string[]): string {
  if (/Unexpected property/i.test(message)) return `unknown key "${path[path.length - 1] ?? ''}"`;
  const s = schema as { pattern?: string; const?: unknown; anyOf?: { const?: unknown }[] };
  if (s.anyOf && s.anyOf.every((x) => x.const !== undefined)) {
    return `must be one of ${s.anyOf.map((x) => JSON.stringify(x.const)).join(', ')}`;
  }
  return message.charAt(0).toLowerCase() + message.slice(1);
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
  (c.network?.dns?.upstream ?? []).forEach((u, i) => {
    if (isIP(u) === 0) out.push({ path: ['network', 'dns', 'upstream', String(i)], message: `"${u}" is not an IP address` });
  });
  (c.network?.firewall?.host_allow ?? []).forEach((a, i) => {
    const port = Number(a.split('/')[1]);
    if (port < 1 || port > 65535) out.push({ path: ['network', 'firewall', 'host_allow', String(i)], message: `port ${port} is out of range 1-65535` });
  });
  return out;
}

function merge(c: ConfigFile): VoltConfig {
  const d = defaultConfig();
  const n = c.network ?? {};
  return {
    network: {
      default_bridge: n.default_bridge ?? d.network.default_bridge,
      default_subnet: n.default_subnet ?? d.network.default_subnet,
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
