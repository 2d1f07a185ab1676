import type { BridgeObservation } from '../drivers/bridge';
import { runChecked, runCommand } from './exec';
import { linkGone } from './link-gone';

/** The parts of `ip -j -d addr show` volt reads, parsed once at the edge. */
export interface IpLink {
  ifname: string;
  kind?: string;
  master?: string;
  up: boolean;
  operstate: string;
  mtu: number;
  mac?: string;
  addresses: string[];
  /** IPv6 link-local addresses with prefix ("fe80::1/64"), not in `addresses`. */
  linkLocal?: string[];
}

interface RawAddrInfo {
  family?: string;
  local?: string;
  prefixlen?: number;
  scope?: string;
}
interface RawLink {
  ifname?: string;
  flags?: string[];
  operstate?: string;
  mtu?: number;
  master?: string;
  address?: string;
  linkinfo?: { info_kind?: string; info_slave_kind?: string };
  addr_info?: RawAddrInfo[];
}

function parseLinks(json: string): IpLink[] {
  const raw: unknown = JSON.parse(json.trim() === '' ? '[]' : json);
  if (!Array.isArray(raw)) return [];
  return (raw as RawLink[])
    .filter((l) => typeof l.ifname === 'string')
    .map((l) => ({
      ifname: l.ifname as string,
      kind: l.linkinfo?.info_kind,
      master: l.master,
      up: (l.flags ?? []).includes('UP'),
      operstate: l.operstate ?? 'UNKNOWN',
      mtu: l.mtu ?? 0,
      mac: l.address,
      addresses: (l.addr_info ?? [])
        .filter((a) => a.local && a.scope !== 'link' && a.scope !== 'host')
        .map((a) => `${a.local}/${a.prefixlen}`),
      linkLocal: (l.addr_info ?? []).filter((a) => a.local && a.family === 'inet6' && a.scope === 'link').map((a) => `${a.local}/${a.prefixlen}`),
    }));
}

/** One link with details, or undefined when it does not exist. */
export async function getLink(ifname: string): Promise<IpLink | undefined> {
  const r = await runCommand('ip', ['-j', '-d', 'addr', 'show', 'dev', ifname]);
  if (r.code !== 0) {
    if (linkGone(r.stderr)) return undefined;
    throw new Error(`read link ${ifname}: ${r.stderr.trim()}`);
  }
  return parseLinks(r.stdout)[0];
}

export async function listLinks(): Promise<IpLink[]> {
  return parseLinks(await runChecked('list links', 'ip', ['-j', '-d', 'addr', 'show']));
}

export async function linksOfMaster(master: string): Promise<string[]> {
  const r = await runCommand('ip', ['-j', 'link', 'show', 'master', master]);
  if (r.code !== 0) return [];
  return parseLinks(r.stdout).map((l) => l.ifname);
}

export interface IpRoute {
  dst: string;
  dev?: string;
  protocol?: string;
}

/** IPv4 routes of the main table (for subnet overlap checks). */
export async function listRoutes4(): Promise<IpRoute[]> {
  const out = await runChecked('list routes', 'ip', ['-j', '-4', 'route', 'show', 'table', 'main']);
  const raw: unknown = JSON.parse(out.trim() === '' ? '[]' : out);
  if (!Array.isArray(raw)) return [];
  return (raw as { dst?: string; dev?: string; protocol?: string }[])
    .filter((r) => typeof r.dst === 'string')
    .map((r) => ({ dst: r.dst as string, dev: r.dev, protocol: r.protocol }));
}

/** Apply a list of `ip` commands in one process (`ip -batch -`). */
export async function ipBatch(what: string, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  await runChecked(what, 'ip', ['-batch', '-'], { input: lines.join('\n') + '\n' });
}

/** Observations of several bridges from one `ip -j -d addr show` (ports from their `master`). */
export async function observeBridges(ifnames: readonly string[]): Promise<BridgeObservation[]> {
  if (ifnames.length === 0) return [];
  const links = await listLinks();
  const byName = new Map(links.map((l) => [l.ifname, l]));
  return ifnames.map((ifname) => {
    const link = byName.get(ifname);
    if (!link) return { ifname, exists: false, up: false, addresses: [], ports: [] };
    return {
      ifname,
      exists: true,
      kind: link.kind,
      up: link.up,
      mtu: link.mtu,
      mac: link.mac,
      addresses: link.addresses,
      ports: links.filter((l) => l.master === ifname).map((l) => l.ifname),
    };
  });
}
