import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import type { VlanObservation, VlanSpec } from '../drivers/bridge';
import type { Availability } from '../drivers/driver';
import { DriverError, errorMessage } from '../errors';
import { runChecked } from './exec';
import { isIfname } from './names';

/**
 * 802.1Q links as the kernel reports them, and whether the kernel can make
 * them at all. Shared by every bridge driver (they must observe the same thing).
 */

interface RawVlanLink {
  ifname?: string;
  flags?: string[];
  master?: string;
  /** The parent ("link": "eth0") when it is in the same namespace. */
  link?: string | null;
  link_type?: string;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_data?: { protocol?: string; id?: number } };
}

/** A link as VLAN validation and observation need it. */
export interface HostLink extends VlanObservation {
  /** "ether", "loopback", … */
  linkType?: string;
}

export function parseVlanLinks(json: string): HostLink[] {
  const raw: unknown = JSON.parse(json.trim() === '' ? '[]' : json);
  if (!Array.isArray(raw)) return [];
  return (raw as RawVlanLink[])
    .filter((l) => typeof l.ifname === 'string')
    .map((l) => {
      const kind = l.linkinfo?.info_kind;
      const data = kind === 'vlan' ? l.linkinfo?.info_data : undefined;
      return {
        ifname: l.ifname as string,
        exists: true,
        kind,
        // For a veth "link" is its peer; only a VLAN's is its parent.
        parent: kind === 'vlan' && typeof l.link === 'string' ? l.link : undefined,
        id: typeof data?.id === 'number' ? data.id : undefined,
        protocol: data?.protocol,
        up: (l.flags ?? []).includes('UP'),
        master: l.master,
        linkType: l.link_type,
      };
    });
}

/** Every link, with VLAN details where there are some (one `ip -j -d link show`). */
export async function listVlanLinks(): Promise<HostLink[]> {
  return parseVlanLinks(await runChecked('list links', 'ip', ['-j', '-d', 'link', 'show']));
}

/** Observations of the named links, in order; absent ones have exists: false. */
export async function observeVlans(ifnames: readonly string[]): Promise<VlanObservation[]> {
  if (ifnames.length === 0) return [];
  const byName = new Map((await listVlanLinks()).map((l) => [l.ifname, l]));
  return ifnames.map((ifname) => {
    const l = byName.get(ifname);
    if (!l) return { ifname, exists: false, up: false };
    const { linkType, ...obs } = l;
    void linkType;
    return obs;
  });
}

/**
 * Can this kernel make 802.1Q links? /proc/net/vlan exists in every namespace
 * once 8021q is loaded (or built in); otherwise the module must be installed so
 * that `ip link add … type vlan` can load it. Reads files only.
 */
export async function probe8021q(release: string = os.release()): Promise<Availability> {
  if (await exists('/proc/net/vlan')) return { ok: true, reason: '802.1Q support loaded (8021q)' };
  const moduleDir = `/lib/modules/${release}`;
  for (const index of ['modules.builtin', 'modules.dep']) {
    const text = await fs.readFile(`${moduleDir}/${index}`, 'utf8').catch(() => '');
    if (/(^|\/)8021q\.ko/m.test(text)) return { ok: true, reason: `8021q module installed (${index}); loaded on first use` };
  }
  return {
    ok: false,
    reason: `kernel ${release} has no 802.1Q VLAN support: the 8021q module is neither loaded nor installed in ${moduleDir}`,
  };
}

/** The error every driver gives when the kernel cannot make VLAN links. */
export function vlanUnsupported(what: string, reason: string): DriverError {
  return new DriverError(`${what}: ${reason}`, {
    code: 'E_VLAN_UNSUPPORTED',
    suggestions: [
      'load it with `modprobe 8021q` (the module ships with the kernel package), or use a kernel built with CONFIG_VLAN_8021Q',
      'nothing was changed',
    ],
  });
}

/** "RTNETLINK answers: Operation not supported" / "Unknown device type": the kernel lacks 8021q. */
export function isVlanUnsupportedError(stderr: string): boolean {
  return /Unknown device type|Operation not supported|not supported/i.test(stderr);
}

/**
 * A VLAN spec comes from core, already validated; drivers check it again before
 * pasting its values into an `ip -batch` script or a networkd unit.
 */
export function checkVlanSpec(spec: VlanSpec): void {
  const problems: string[] = [];
  for (const [what, v] of [
    ['interface name', spec.ifname],
    ['parent', spec.parent],
    ...(spec.bridge === undefined ? [] : [['bridge', spec.bridge] as const]),
  ] as const) {
    if (!isIfname(v)) problems.push(`${what} ${JSON.stringify(v)} is not a valid Linux interface name`);
  }
  if (!Number.isInteger(spec.id) || spec.id < 1 || spec.id > 4094) problems.push(`VLAN id ${String(spec.id)} is not 1–4094`);
  if (spec.network !== undefined && /[\u0000-\u001f\u007f]/.test(spec.network)) problems.push('network name has control characters');
  if (problems.length > 0) {
    throw new DriverError(`set up VLAN ${JSON.stringify(spec.ifname)}: ${problems.join('; ')}`, { code: 'E_VLAN_SPEC' });
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** What is in the way when a VLAN name is taken. */
export function describeLink(link: VlanObservation): string {
  if (link.kind === 'vlan') return `interface ${link.ifname} exists and is VLAN ${link.id ?? '?'} on ${link.parent ?? '?'}`;
  return link.kind ? `interface ${link.ifname} exists and is a ${link.kind} link` : `interface ${link.ifname} exists and is a plain device`;
}

/** A link of the VLAN's name exists: fine when it is this very VLAN, else an error naming what it is. */
export function assertSameVlan(what: string, link: HostLink, spec: VlanSpec): void {
  if (link.kind === 'vlan' && link.parent === spec.parent && link.id === spec.id) return;
  throw new DriverError(`${what}: ${describeLink(link)}`, {
    code: 'E_VLAN_NAME_TAKEN',
    suggestions: [`see what it is: ip -d link show ${link.ifname}`, 'remove that interface, or give the VLAN another --name'],
  });
}

export function parentMissing(what: string, spec: VlanSpec): DriverError {
  return new DriverError(`${what}: parent ${spec.parent} does not exist`, {
    code: 'E_VLAN_PARENT_MISSING',
    suggestions: ['ip link show', 'bring the parent link back, then run `volt net up`'],
  });
}

/** Every link by name (one read), for the drivers' set-up checks. */
export async function readLinks(what: string): Promise<Map<string, HostLink>> {
  try {
    return new Map((await listVlanLinks()).map((l) => [l.ifname, l]));
  } catch (e: unknown) {
    throw new DriverError(`${what}: ${errorMessage(e)}`, { code: 'E_KERNEL', cause: e });
  }
}
