import type { BridgeObservation } from '../drivers/bridge';
import { runChecked, runCommand } from './exec';
import { linkGone } from './link-gone';
import { kernelAccess } from './nft';

/**
 * An in-process rtnetlink reader (volt's is `netlinkDump` in @volt/native):
 * every link and address of this process's network namespace in one call.
 */
export interface NetlinkLibrary {
  /** Links and addresses of this process's namespace, or of the one at `nsPath`. */
  dump(nsPath?: string): {
    links: { index: number; ifname: string; up: boolean; operstate: string; mtu: number; mac?: string; master?: number; kind?: string }[];
    addresses: { index: number; family: 4 | 6; local: string; prefixlen: number; scope: number }[];
  };
  /** The bridge forwarding database (`bridge fdb show`): port index, MAC, bridge index. */
  fdb(): { index: number; mac: string; master?: number }[];
  /**
   * rtnetlink writes (volt's is `netlinkApply` in @volt/native): the requests in order, in the
   * namespace at `nsPath` (default: this process's). Throws an error named "NetlinkError" with
   * `ip`'s words when the kernel refuses one (the earlier ones stay applied), any other error
   * when nothing could be applied. Without it, writes run `ip -batch`.
   */
  apply?(nsPath: string | undefined, requests: readonly NetlinkRequest[]): void;
  /** One link by name (no dump of the others): its kind; undefined when absent. Optional. */
  link?(ifname: string): { index: number; kind?: string } | undefined;
  /** `bridge fdb get MAC br BRIDGE` in-process: a cost that does not grow with the bridge. Optional. */
  fdbHas?(bridge: string, mac: string): boolean;
}

/** One rtnetlink write, typed: what one `ip` line of a container port's set-up does. */
export type NetlinkRequest =
  | { op: 'veth-add'; ifname: string; mtu: number; peer: { ifname: string; mac: string; mtu: number; netns: string } }
  | { op: 'link-set'; ifname: string; addrGenModeNone?: boolean; alias?: string; mac?: string; master?: string; up?: boolean }
  | { op: 'addr-replace'; ifname: string; family: 4 | 6; local: string; prefixlen: number; nodad?: boolean }
  | { op: 'default-route'; ifname: string; family: 4 | 6; gateway: string }
  | { op: 'link-del'; ifname: string }
  | { op: 'sysctl'; key: string; value: string };

/**
 * The in-process writer when the kernel access path is the library and one was given; else
 * undefined (the caller runs `ip`).
 */
export function netlinkWriter(): ((nsPath: string | undefined, requests: readonly NetlinkRequest[]) => void) | undefined {
  const lib = netlinkReader();
  return lib?.apply?.bind(lib);
}

/**
 * The kind of one host link ("bridge", "veth"…, "" for a plain device), undefined when there is
 * no such link: one request when the library can, else getLink (a dump or `ip -j`).
 */
export async function linkKindOf(ifname: string): Promise<string | undefined> {
  const lib = netlinkReader();
  if (lib?.link) {
    try {
      const l = lib.link(ifname);
      return l === undefined ? undefined : (l.kind ?? '');
    } catch {
      /* the long way below */
    }
  }
  const link = await getLink(ifname).catch(() => undefined);
  return link === undefined ? undefined : (link.kind ?? '');
}

/**
 * Process-wide, not per module: core's bundle carries its own copy of this
 * file, and plugins load the SDK from node_modules; both must see the reader.
 */
const READER = Symbol.for('volt.sdk.netlink-reader');
type ReaderSlot = { open?: () => NetlinkLibrary | { failed: string }; lib?: NetlinkLibrary };
const slot = (): ReaderSlot => {
  const g = globalThis as { [READER]?: ReaderSlot };
  return (g[READER] ??= {});
};

/**
 * Give the link reads below (getLink, listLinks, linksOfMaster,
 * observeBridges, linkNamesIn, fdbKnows) an in-process rtnetlink reader. With
 * VOLT_KERNEL_ACCESS=process, or when none is given or it does not open, they
 * run `ip -j` (and `bridge fdb`) as before.
 */
export function useNetlinkLibrary(open: () => NetlinkLibrary | { failed: string }): void {
  const s = slot();
  s.open = open;
  s.lib = undefined;
}

function netlinkReader(): NetlinkLibrary | undefined {
  const s = slot();
  if (!s.open || kernelAccess() === 'process') return undefined;
  if (s.lib) return s.lib;
  const lib = s.open();
  if ('failed' in lib) {
    s.open = undefined;
    return undefined;
  }
  s.lib = lib;
  return lib;
}

const RT_SCOPE_LINK = 253;
const RT_SCOPE_HOST = 254;

/** Interface names inside the namespace at `path`; undefined when it cannot be read. */
export async function linkNamesIn(path: string): Promise<string[] | undefined> {
  const lib = netlinkReader();
  if (lib) {
    try {
      return lib.dump(path).links.map((l) => l.ifname);
    } catch {
      return undefined;
    }
  }
  const r = await runCommand('nsenter', [`--net=${path}`, 'ip', '-j', 'link', 'show']);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout.trim() === '' ? '[]' : r.stdout) as { ifname: string }[]).map((l) => l.ifname);
}

/**
 * Does the bridge's forwarding database know this MAC (learned behind one of
 * its ports, or the bridge's own)? Undefined when this cannot be answered
 * in-process (VOLT_KERNEL_ACCESS=process, or no reader): ask `bridge fdb`.
 */
export function fdbKnows(bridge: string, mac: string): boolean | undefined {
  const lib = netlinkReader();
  if (!lib) return undefined;
  if (lib.fdbHas) {
    try {
      return lib.fdbHas(bridge, mac.toLowerCase());
    } catch {
      /* the whole table below */
    }
  }
  const br = lib.dump().links.find((l) => l.ifname === bridge);
  if (!br) return false;
  const want = mac.toLowerCase();
  return lib.fdb().some((e) => e.mac === want && (e.master === br.index || e.index === br.index));
}

/**
 * Every MAC the bridge's forwarding database knows (fdbKnows for all MACs at once: one dump
 * for a batch connect instead of one per workload). Undefined when it cannot be read in-process.
 */
export function fdbMacs(bridge: string): Set<string> | undefined {
  const lib = netlinkReader();
  if (!lib) return undefined;
  const br = lib.dump().links.find((l) => l.ifname === bridge);
  if (!br) return new Set();
  return new Set(lib.fdb().flatMap((e) => (e.master === br.index || e.index === br.index ? [e.mac] : [])));
}

/** The same IpLink values `ip -j -d addr show` gives, from one rtnetlink dump. */
function linksFromNetlink(lib: NetlinkLibrary): IpLink[] {
  const { links, addresses } = lib.dump();
  const names = new Map(links.map((l) => [l.index, l.ifname]));
  const byLink = new Map<number, string[]>();
  const linkLocal = new Map<number, string[]>();
  for (const a of addresses) {
    if (a.scope === RT_SCOPE_LINK && a.family === 6) linkLocal.set(a.index, [...(linkLocal.get(a.index) ?? []), `${a.local}/${a.prefixlen}`]);
    if (a.scope === RT_SCOPE_LINK || a.scope === RT_SCOPE_HOST) continue;
    byLink.set(a.index, [...(byLink.get(a.index) ?? []), `${a.local}/${a.prefixlen}`]);
  }
  return links.map((l) => ({
    ifname: l.ifname,
    kind: l.kind,
    master: l.master === undefined ? undefined : names.get(l.master),
    up: l.up,
    operstate: l.operstate,
    mtu: l.mtu,
    mac: l.mac,
    addresses: byLink.get(l.index) ?? [],
    linkLocal: linkLocal.get(l.index) ?? [],
  }));
}

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
  const lib = netlinkReader();
  if (lib) return linksFromNetlink(lib).find((l) => l.ifname === ifname);
  const r = await runCommand('ip', ['-j', '-d', 'addr', 'show', 'dev', ifname]);
  if (r.code !== 0) {
    if (linkGone(r.stderr)) return undefined;
    throw new Error(`read link ${ifname}: ${r.stderr.trim()}`);
  }
  return parseLinks(r.stdout)[0];
}

export async function listLinks(): Promise<IpLink[]> {
  const lib = netlinkReader();
  if (lib) return linksFromNetlink(lib);
  return parseLinks(await runChecked('list links', 'ip', ['-j', '-d', 'addr', 'show']));
}

export async function linksOfMaster(master: string): Promise<string[]> {
  const lib = netlinkReader();
  if (lib) return linksFromNetlink(lib).filter((l) => l.master === master).map((l) => l.ifname);
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
