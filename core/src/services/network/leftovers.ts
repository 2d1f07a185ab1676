import { promises as fs, statSync } from 'node:fs';
import * as path from 'node:path';
import type { VoltPaths } from '@volt/sdk';
import type { VoltState } from '../../state/types';
import type { FirewallDriver, FirewallNetwork, FirewallRuleSet, HostInputPolicy } from '@volt/sdk';
import { pendingAttachments, pendingNetworks } from '../../state/journal';
import { errorMessage } from '@volt/sdk';
import { contains, parseCidr, parseIPv4 } from '../../net/ipv4';
import { canonicalIPv6, contains6, parseCidr6, parseIPv6 } from '../../net/ipv6';
import { nsAlive, nsPath } from '../../kernel/netns';
import { deleteAddressIn, deleteLinkIn, scanLinks, type ScannedLink } from '../../kernel/link-scan';
import { runCommand } from '@volt/sdk/kernel';

/**
 * What volt made and no state record owns (the CNI "GC" idea): a `volt net
 * connect` killed between creating a veth and committing state leaves a host
 * veth on the bridge, an eth0 in the workload, an address another workload
 * then gets too. `volt net check` lists these, `volt net up` removes them.
 *
 * An object counts as volt's only when it is recognisable without state:
 * - links with an alias "volt:…" (set when volt creates them: bridges and
 *   VLAN links of the direct driver, both ends of container veths, TAPs);
 * - veth host ends named "vh" + 10 hex digits, TAPs named "tap-" + 10 hex digits;
 * - links that a volt networkd unit (10-volt-<ifname>.netdev) defines;
 * - networkd units volt writes (10-volt-*, 50-vm-<uuid>-*, 50-volt-dhcp.conf,
 *   50-volt-vlan-*.conf drop-ins) and <root>/run/volt/{vm,dhcp}/* entries.
 * Everything else (a user's `myveth0`, `br-user`, the harness's `hx1`) is never touched.
 */
export interface Finding {
  kind: 'orphan-link' | 'orphan-address' | 'orphan-unit' | 'orphan-file' | 'duplicate-address' | 'orphan-nft' | (string & {});
  object: string;
  detail: string;
}

export type Fix =
  | { op: 'link'; nsFile?: string; ifname: string }
  | { op: 'addr'; nsFile: string; ifname: string; address: string }
  | { op: 'file'; path: string; unit: boolean };

/** A finding with what removing it takes (none: volt cannot fix it alone, e.g. a foreign link holds the address). */
export interface Leftover extends Finding {
  fixes: Fix[];
}

/** What the kernel and the file system hold, read once (`observe`); `classify` is pure. */
export interface Observed {
  host: ScannedLink[];
  /** `also`: other workloads whose record points at the same namespace (their attachments own links too). */
  namespaces: { workload: string; nsFile: string; links: ScannedLink[]; also?: string[] }[];
  /** Entries of a networkd unit directory: "10-volt-x.netdev", "10-volt-x.network.d/50-volt-dhcp.conf". */
  units: { dir: string; names: string[] }[];
  /** Entry names under <runDir>/vm and <runDir>/dhcp. */
  runVm: string[];
  runDhcp: string[];
  runDir: string;
}

export const OWNER_ALIAS_PREFIX = 'volt:';
const VETH_HOST = /^vh[0-9a-f]{10}$/;
const TAP = /^tap-[0-9a-f]{10}$/;
const VLAN_UNIT = /^10-volt-vlan-(.+)\.(netdev|network)$/;
const BRIDGE_UNIT = /^10-volt-(.+)\.(netdev|network)$/;
const BRIDGE_DROPIN = /^10-volt-(.+)\.network\.d\/([^/]+)$/;
const VLAN_DROPIN = /^[^/]+\.network\.d\/50-volt-vlan-(.+)\.conf$/;
const VM_UNIT = /^50-vm-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-(.+)\.(netdev|network)$/;

/** The link names volt's networkd units define (bridges and VLANs), whether or not state still knows them. */
function unitLinkNames(units: Observed['units']): Map<string, string> {
  const out = new Map<string, string>();
  for (const u of units) {
    for (const name of u.names) {
      const m = VLAN_UNIT.exec(name) ?? BRIDGE_UNIT.exec(name);
      if (m && name.endsWith('.netdev')) out.set(m[1]!, name);
    }
  }
  return out;
}

function linkWord(l: ScannedLink): string {
  switch (l.kind) {
    case 'veth':
      return 'veth';
    case 'tun':
      return 'TAP';
    case 'bridge':
      return 'bridge';
    case 'vlan':
      return 'VLAN link';
    default:
      return l.kind ? `${l.kind} link` : 'link';
  }
}

/** Why a host link is recognisably volt's, or undefined when it is not. */
function hostMark(l: ScannedLink, unitLinks: Map<string, string>): string | undefined {
  if (l.alias?.startsWith(OWNER_ALIAS_PREFIX)) return `its alias "${l.alias}" marks it as volt's`;
  if (l.kind === 'veth' && VETH_HOST.test(l.ifname)) return 'its name is that of a volt veth host end ("vh" + 10 hex digits)';
  if (l.kind === 'tun' && TAP.test(l.ifname)) return 'its name is that of a volt VM TAP ("tap-" + 10 hex digits)';
  const unit = unitLinks.get(l.ifname);
  if (unit !== undefined) return `volt's networkd unit ${unit} defines it`;
  return undefined;
}

interface Holder {
  /** "workload web" or "bridge volt-backend". */
  where: string;
  ifname: string;
  address: string;
  recorded: boolean;
  /** How to take the address away; undefined: not volt's (or the bridge's gateway). */
  fix?: Fix;
}

export function classify(inState: VoltState, o: Observed): Leftover[] {
  // What an interrupted operation's pending record names is owned too: the record settles it (docs/state-and-recovery.md).
  const state: VoltState = {
    ...inState,
    networks: { ...inState.networks, ...Object.fromEntries(pendingNetworks(inState).map((n) => [n.name, n])) },
    attachments: [...inState.attachments, ...pendingAttachments(inState)],
    workloads: withPendingVmNics(inState),
  };
  const out: Leftover[] = [];
  const nets = Object.values(state.networks);
  const unitLinks = unitLinkNames(o.units);

  // Host links.
  const owned = new Set<string>([...nets.map((n) => n.bridge), ...state.attachments.map((a) => a.hostIfname), ...Object.keys(state.vlans)]);
  for (const w of Object.values(state.workloads)) if (w.type === 'vm') for (const nic of w.runtime?.nics ?? []) owned.add(nic.ifname);
  for (const l of [...o.host].sort((a, b) => a.ifname.localeCompare(b.ifname))) {
    if (owned.has(l.ifname)) continue;
    const mark = hostMark(l, unitLinks);
    if (mark === undefined) continue;
    out.push({
      kind: 'orphan-link',
      object: l.ifname,
      detail: `${linkWord(l)} ${l.ifname}${l.master ? ` on bridge ${l.master}` : ''} in the host: ${mark}, but no state record owns it`,
      fixes: [{ op: 'link', ifname: l.ifname }],
    });
  }

  // Inside the workloads' namespaces: links and addresses no attachment owns.
  const subnets = nets.map((n) => parseCidr(n.subnet)).filter((c) => c !== undefined);
  const inVoltSubnet = (addr: string): boolean => {
    const ip = parseIPv4(addr.split('/')[0]!);
    return ip !== undefined && subnets.some((c) => contains(c, ip));
  };
  const holders = new Map<string, Holder[]>();
  const hold = (h: Holder): void => {
    const ip = h.address.split('/')[0]!;
    holders.set(ip, [...(holders.get(ip) ?? []), h]);
  };
  for (const n of nets) hold({ where: `bridge ${n.bridge}`, ifname: n.bridge, address: `${n.gateway}/${n.subnet.split('/')[1]}`, recorded: true });
  // IPv6: only addresses inside a volt prefix count (a SLAAC address from a foreign RA is not volt's business).
  const prefixes6 = nets.flatMap((n) => (n.subnet6 === undefined ? [] : [parseCidr6(n.subnet6)!]));
  const inVoltPrefix6 = (addr: string): boolean => {
    const ip = parseIPv6(addr.split('/')[0]!);
    return ip !== undefined && prefixes6.some((c) => contains6(c, ip));
  };
  for (const n of nets) {
    if (n.subnet6 !== undefined && n.gateway6 !== undefined) hold({ where: `bridge ${n.bridge}`, ifname: n.bridge, address: `${n.gateway6}/${n.subnet6.split('/')[1]}`, recorded: true });
  }
  const strays: { l: Leftover; ip: string }[] = [];
  for (const ns of [...o.namespaces].sort((a, b) => a.workload.localeCompare(b.workload))) {
    for (const l of ns.links) {
      if (l.ifname === 'lo') continue;
      const names = [ns.workload, ...(ns.also ?? [])];
      const att = state.attachments.find((a) => names.includes(a.workload) && a.kind === 'veth' && a.ifname === l.ifname);
      const volt = att !== undefined || l.alias?.startsWith(OWNER_ALIAS_PREFIX) === true;
      if (att === undefined && volt) {
        out.push({
          kind: 'orphan-link',
          object: `${ns.workload}:${l.ifname}`,
          detail: `${linkWord(l)} ${l.ifname} in workload "${ns.workload}": its alias "${l.alias}" marks it as volt's, but no attachment owns it`,
          fixes: [{ op: 'link', nsFile: ns.nsFile, ifname: l.ifname }],
        });
      }
      const v6 = (l.addresses6 ?? []).filter(inVoltPrefix6).map((a) => `${canonicalIPv6(a.split('/')[0]!)!}/${a.split('/')[1]}`);
      for (const address of [...l.addresses, ...v6]) {
        const ip = address.split('/')[0]!;
        const recorded = att !== undefined && (att.ip === ip || att.ip6 === ip);
        const fix: Fix | undefined = volt && !recorded ? { op: 'addr', nsFile: ns.nsFile, ifname: l.ifname, address } : undefined;
        if (inVoltSubnet(address) || ip.includes(':')) hold({ where: `workload ${ns.workload}`, ifname: l.ifname, address, recorded, fix });
        if (att !== undefined && !recorded) {
          strays.push({
            ip,
            l: {
              kind: 'orphan-address',
              object: `${ns.workload}:${l.ifname}:${address}`,
              detail: `address ${address} on ${l.ifname} in workload "${ns.workload}": state records ${ip.includes(':') ? (att.ip6 ?? 'no IPv6 address') : att.ip} for it (network "${att.network}")`,
              fixes: [fix!],
            },
          });
        }
      }
    }
  }

  // Every IPv4 address of a volt subnet held more than once (a workload, another workload, the gateway).
  const duplicated = new Set<string>();
  const ips = [...holders.keys()].sort((a, b) => (parseIPv4(a) ?? 0) - (parseIPv4(b) ?? 0));
  for (const ip of ips) {
    const hs = holders.get(ip)!;
    if (hs.length < 2) continue;
    duplicated.add(ip);
    const describe = (h: Holder): string =>
      `${h.where}${h.where.startsWith('bridge') ? '' : ` ${h.ifname}`} (${h.recorded ? 'recorded in state' : h.fix ? 'not in state' : 'not in state, not volt\'s'})`;
    const fixes = hs.flatMap((h) => (h.fix ? [h.fix] : []));
    const foreign = hs.filter((h) => !h.recorded && !h.fix);
    out.push({
      kind: 'duplicate-address',
      object: ip,
      detail:
        `${ip} is held by ${hs.map(describe).join(' and ')}` +
        (foreign.length > 0 ? `; volt does not touch links that are not its own: remove it by hand (ip addr del ${foreign[0]!.address} dev ${foreign[0]!.ifname})` : ''),
      fixes,
    });
  }
  out.push(...strays.filter((s) => !duplicated.has(s.ip)).map((s) => s.l));

  // networkd units.
  const bridges = new Set(nets.map((n) => n.bridge));
  const vms = new Map<string, Set<string>>();
  for (const w of Object.values(state.workloads)) if (w.type === 'vm' && w.runtime) vms.set(w.uuid, new Set(w.runtime.nics.map((n) => n.id)));
  for (const u of o.units) {
    for (const name of [...u.names].sort()) {
      const why = orphanUnit(name, bridges, state, vms);
      if (why === undefined) continue;
      const file = path.join(u.dir, name);
      out.push({ kind: 'orphan-unit', object: file, detail: `networkd unit ${file}: ${why}`, fixes: [{ op: 'file', path: file, unit: true }] });
    }
  }

  // Runtime files of objects state does not know.
  for (const name of [...o.runVm].sort()) {
    if (state.workloads[name]?.type === 'vm') continue;
    const file = path.join(o.runDir, 'vm', name);
    out.push({ kind: 'orphan-file', object: file, detail: `runtime directory ${file}: no VM named "${name}" in state`, fixes: [{ op: 'file', path: file, unit: false }] });
  }
  for (const name of [...o.runDhcp].sort()) {
    if (bridges.has(name)) continue;
    const file = path.join(o.runDir, 'dhcp', name);
    out.push({ kind: 'orphan-file', object: file, detail: `DHCP runtime directory ${file}: no network has bridge ${name}`, fixes: [{ op: 'file', path: file, unit: false }] });
  }
  return out;
}

function orphanUnit(name: string, bridges: Set<string>, state: VoltState, vms: Map<string, Set<string>>): string | undefined {
  let m = VLAN_DROPIN.exec(name);
  if (m) return state.vlans[m[1]!] ? undefined : `no VLAN "${m[1]}" in state`;
  m = BRIDGE_DROPIN.exec(name);
  if (m) return bridges.has(m[1]!) ? undefined : `no network has bridge ${m[1]}`;
  m = VLAN_UNIT.exec(name);
  if (m) return state.vlans[m[1]!] ? undefined : `no VLAN "${m[1]}" in state`;
  m = BRIDGE_UNIT.exec(name);
  if (m) return bridges.has(m[1]!) ? undefined : `no network has bridge ${m[1]}`;
  m = VM_UNIT.exec(name);
  if (m) return vms.get(m[1]!)?.has(m[2]!) ? undefined : `no running VM with UUID ${m[1]} has a NIC ${m[2]}`;
  return undefined;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch {
    return [];
  }
}

/** Unit names in one networkd directory, with the files of its *.network.d drop-in directories. */
async function unitNames(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await entries(dir)) {
    if (name.endsWith('.network.d')) for (const f of await entries(path.join(dir, name))) out.push(`${name}/${f}`);
    else out.push(name);
  }
  return out;
}

/** Namespaces read at once: one `nsenter ip` each, never more than this many running. */
const SCAN_PARALLEL = 8;

export async function observe(state: VoltState, paths: VoltPaths): Promise<Observed> {
  const host = (await scanLinks()) ?? [];
  // One entry per namespace: two records (e.g. --pid and --netns) may point at the same one.
  const byNs = new Map<string, { workload: string; nsFile: string; also: string[] }>();
  for (const w of Object.values(state.workloads).sort((a, b) => a.name.localeCompare(b.name))) {
    if (w.type !== 'container') continue;
    const nsFile = nsPath(w.source);
    if (!nsAlive(nsFile)) continue;
    let key = nsFile;
    try {
      const st = statSync(nsFile);
      key = `${st.dev}:${st.ino}`;
    } catch {
      continue;
    }
    const seen = byNs.get(key);
    if (seen) seen.also.push(w.name);
    else byNs.set(key, { workload: w.name, nsFile, also: [] });
  }
  const todo = [...byNs.values()];
  const namespaces: Observed['namespaces'] = [];
  const worker = async (): Promise<void> => {
    for (let next = todo.shift(); next !== undefined; next = todo.shift()) {
      const links = await scanLinks(next.nsFile);
      if (links !== undefined) namespaces.push({ workload: next.workload, nsFile: next.nsFile, links, also: next.also });
    }
  };
  await Promise.all(Array.from({ length: Math.min(SCAN_PARALLEL, todo.length) }, worker));
  const units: Observed['units'] = [];
  for (const dir of [...new Set([paths.networkdEtcDir, paths.networkdRunDir])]) units.push({ dir, names: await unitNames(dir) });
  return { host, namespaces, units, runVm: await entries(path.join(paths.runDir, 'vm')), runDhcp: await entries(path.join(paths.runDir, 'dhcp')), runDir: paths.runDir };
}

/** Every volt-made object no state record owns (read-only). */
export async function findLeftovers(state: VoltState, paths: VoltPaths): Promise<Leftover[]> {
  return classify(state, await observe(state, paths));
}

export function asFinding(l: Leftover): Finding {
  return { kind: l.kind, object: l.object, detail: l.detail };
}

/**
 * Remove what `findLeftovers` found: addresses first, then links, then files; networkd reloads
 * once when a unit went. Returns the findings that are gone; the ones that could not be fixed
 * are warned about (and `volt net check` keeps reporting them).
 */
export async function removeLeftovers(found: Leftover[], warn: (m: string) => void): Promise<Finding[]> {
  const removed: Finding[] = [];
  let units = false;
  const order = (f: Fix): number => (f.op === 'addr' ? 0 : f.op === 'link' ? 1 : 2);
  for (const l of [...found].sort((a, b) => Math.min(...a.fixes.map(order), 9) - Math.min(...b.fixes.map(order), 9))) {
    if (l.fixes.length === 0) {
      warn(`${l.kind} ${l.object}: ${l.detail}`);
      continue;
    }
    try {
      for (const f of l.fixes) {
        if (f.op === 'addr') await deleteAddressIn(f.nsFile, f.ifname, f.address);
        else if (f.op === 'link') await deleteLinkIn(f.nsFile, f.ifname);
        else {
          await fs.rm(f.path, { recursive: true, force: true });
          if (f.unit) {
            units = true;
            // An emptied drop-in directory goes too.
            const dir = path.dirname(f.path);
            if (dir.endsWith('.network.d')) await fs.rmdir(dir).catch(() => undefined);
          }
        }
      }
      removed.push(asFinding(l));
    } catch (e: unknown) {
      warn(`remove ${l.kind} ${l.object}: ${errorMessage(e)}`);
    }
  }
  if (units) {
    const r = await runCommand('networkctl', ['reload'], { timeoutMs: 10_000 });
    if (r.code !== 0 && r.code !== 127) warn(`networkctl reload after removing volt's orphan units: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
  return removed;
}

/**
 * nft objects volt made that no record owns (finding kind orphan-nft): the firewall driver
 * recognises them (volt's table, rule comments `volt:NAME`, port-forward elements, network
 * chains) against what state compiles to. None while a firewall record is pending: that
 * record is the finding, and its settlement decides what the kernel keeps. `volt net up`
 * removes them by putting the desired rules in place (not by removeLeftovers).
 */
export async function nftLeftovers(
  state: VoltState,
  fw: Pick<FirewallDriver, 'orphans'>,
  policy: HostInputPolicy,
  nets: FirewallNetwork[],
  rules: FirewallRuleSet | undefined,
): Promise<Finding[]> {
  if (!fw.orphans || Object.keys(state.networks).length === 0) return [];
  if ((state.pending ?? []).some((p) => p.firewall !== undefined)) return [];
  return (await fw.orphans(policy, nets, rules)).map((o) => ({ kind: 'orphan-nft', object: o.object, detail: o.detail }));
}

/** Find and remove in one go (`volt net up`, inside its state transaction). */
export async function cleanLeftovers(state: VoltState, paths: VoltPaths, warn: (m: string) => void): Promise<Finding[]> {
  return removeLeftovers(await findLeftovers(state, paths), warn);
}

/** The TAPs (and their units) of an interrupted VM start or stop are owned like a running VM's: the record settles them. */
function withPendingVmNics(state: VoltState): VoltState['workloads'] {
  const out = { ...state.workloads };
  for (const p of state.pending ?? []) {
    const w = p.vm !== undefined ? out[p.vm] : undefined;
    if (w?.type !== 'vm') continue;
    const taps = p.op === 'vm-start' ? (p.vmStart?.taps ?? []) : p.op === 'vm-stop' || p.op === 'vm-delete' ? (p.vmRuntime?.nics ?? []) : [];
    if (taps.length === 0) continue;
    const base = w.runtime ?? p.vmRuntime ?? p.vmStart?.runtime;
    const nics = [...(w.runtime?.nics ?? []), ...taps.map((t) => ({ id: t.id, ifname: t.ifname, driver: t.driver ?? '', queues: 1, mac: '', mtu: 0, vhost: { on: false, reason: 'pending' } }))];
    out[p.vm!] = { ...w, runtime: { pid: 0, startedAt: '', accel: 'tcg', accelReason: '', qmpSocket: '', serialLog: '', qemuLog: '', ...base, nics } };
  }
  return out;
}
