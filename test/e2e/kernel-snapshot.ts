import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SandboxHost } from '../harness';

/** What "nothing changed" compares: links and addresses, the whole ruleset, and volt's state file. */
export interface Snapshot {
  links: unknown;
  ruleset: unknown;
  state: string | null;
  units: string[];
}

export async function snapshot(host: SandboxHost): Promise<Snapshot> {
  const links = await host.execJson<{ ifname: string; flags: string[]; mtu: number; address: string; addr_info: { family: string; local: string; prefixlen: number }[]; master?: string }[]>('ip', ['-j', '-d', 'addr', 'show']);
  const ruleset = await host.execJson('nft', ['-j', 'list', 'ruleset']);
  let state: string | null = null;
  try {
    state = fs.readFileSync(path.join(host.root, 'var/lib/volt/state.json'), 'utf8');
  } catch {
    state = null;
  }
  let units: string[] = [];
  try {
    units = fs.readdirSync(path.join(host.root, 'etc/systemd/network')).sort();
  } catch {
    units = [];
  }
  // Keep what volt could change; drop what the kernel changes by itself
  // (carrier flags, IPv6 DAD state like "tentative", lifetimes).
  const stable = links.map((l) => ({
    ifname: l.ifname,
    up: l.flags.includes('UP'),
    mtu: l.mtu,
    address: l.address,
    master: l.master,
    addresses: l.addr_info.map((a) => `${a.family} ${a.local}/${a.prefixlen}`),
  }));
  return { links: stable, ruleset, state, units };
}

export interface IpAddrJson {
  ifname: string;
  flags: string[];
  mtu: number;
  address: string;
  operstate: string;
  linkinfo?: { info_kind?: string };
  addr_info: { family: string; local: string; prefixlen: number; scope: string }[];
}

export async function bridgeInfo(host: SandboxHost, ifname: string): Promise<IpAddrJson | undefined> {
  const r = await host.exec('ip', ['-j', '-d', 'addr', 'show', 'dev', ifname]);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as IpAddrJson[])[0];
}

/** The bridge facts both drivers must agree on. */
export function observable(l: IpAddrJson | undefined): unknown {
  if (!l) return undefined;
  return {
    kind: l.linkinfo?.info_kind,
    up: l.flags.includes('UP'),
    mtu: l.mtu,
    mac: l.address,
    ipv4: l.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    ipv6LinkLocal: l.addr_info.some((a) => a.family === 'inet6' && a.scope === 'link'),
  };
}
