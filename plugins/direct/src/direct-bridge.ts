import { accessSync, constants as fsConstants, statSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { HostContext } from '@volt/sdk';
import type { BridgeDriver, BridgeObservation, BridgeSpec, ContainerPortSpec, VlanObservation, VlanSpec } from '@volt/sdk';
import type { Availability } from '@volt/sdk';
import { DriverError, errorMessage, isVoltError } from '@volt/sdk';
import { okOrGone, runCommand } from '@volt/sdk/kernel';
import { getLink, ipBatch, observeBridges, type IpLink } from '@volt/sdk/kernel';
import { checkBridgeSpec } from '@volt/sdk/kernel';
import { configureVethPeer, configureVethPeers, setupVethPort, setupVethPorts, teardownVethPort, teardownVethPorts } from '@volt/sdk/kernel';
import { DirectVlans } from './direct-vlan';

/** Bridge settings `getLink` does not carry, read only for a bridge that already exists. */
interface BridgeTuning {
  stpState?: number;
  forwardDelay?: number;
  /** undefined when IPv6 is absent in this namespace. */
  addrGenMode?: number;
}

/** /proc/sys/net/ipv6/conf/<if>/addr_gen_mode: 1 is "none" (no link-local address). */
const ADDR_GEN_MODE_NONE = 1;
/** The MTU the kernel gives a new bridge (ETH_DATA_LEN). */
const DEFAULT_BRIDGE_MTU = 1500;

/**
 * Linux bridges made with iproute2, nothing else running. Every change of one
 * set-up goes through a single `ip -batch -`, and only the steps the kernel
 * is missing are planned, so a converged bridge costs two reads.
 */
export class DirectBridge implements BridgeDriver {
  readonly name = 'direct';
  readonly preference = 0;
  readonly fallback = true;
  readonly description = 'Linux bridges through iproute2 (ip link), no daemon needed';

  private vlanPart?: DirectVlans;

  constructor(private readonly host: HostContext) {}

  private get vlans(): DirectVlans {
    this.vlanPart ??= new DirectVlans(this.host);
    return this.vlanPart;
  }

  async available(): Promise<Availability> {
    // Looked up in PATH as spawn would, rather than by running `ip -V`: every command that needs a
    // bridge driver probes, and a spawn is most of a `net list` (docs/decisions/0007-cli-startup-2.md).
    return executableInPath('ip') ? { ok: true, reason: 'iproute2 present' } : { ok: false, reason: 'iproute2 not installed' };
  }

  async setupBridge(spec: BridgeSpec): Promise<void> {
    checkBridgeSpec(spec);
    const what = `set up bridge "${spec.ifname}" for network "${spec.network}"`;
    const link = await readLink(what, spec.ifname);
    if (link && link.kind !== 'bridge') throw notABridge(what, link);

    const tuning = link ? await readTuning(spec.ifname) : undefined;
    const ipv6 = await ipv6Present();
    if (spec.address6 !== undefined && !ipv6) {
      throw new DriverError(`${what}: the network has IPv6 prefix ${spec.prefix6 ?? spec.address6}, but IPv6 is disabled in this kernel (no /proc/sys/net/ipv6)`, {
        code: 'E_KERNEL',
        suggestions: ['boot without ipv6.disable=1, or create the network without --subnet6'],
      });
    }
    const lines = planBridge(spec, link, tuning, ipv6);
    if (lines.length > 0) {
      this.host.debug(`${what}: ip -batch:\n  ${lines.join('\n  ')}`);
      try {
        await ipBatch(what, lines);
      } catch (e: unknown) {
        if (!link) await this.removeCreated(spec.ifname);
        throw e;
      }
    }
    try {
      await ensureIpv4Forwarding();
    } catch (e: unknown) {
      if (!link) await this.removeCreated(spec.ifname);
      throw new DriverError(`${what}: enable IPv4 forwarding: ${errorMessage(e)}`, { code: 'E_KERNEL', cause: e });
    }
    if (spec.address6 !== undefined) {
      try {
        await ensureIpv6Router(spec.ifname);
      } catch (e: unknown) {
        if (!link) await this.removeCreated(spec.ifname);
        throw new DriverError(`${what}: enable IPv6 forwarding: ${errorMessage(e)}`, { code: 'E_KERNEL', cause: e });
      }
    }
  }

  async teardownBridge(spec: BridgeSpec): Promise<void> {
    const what = `tear down bridge "${spec.ifname}" of network "${spec.network}"`;
    const link = await readLink(what, spec.ifname);
    if (!link) return;
    if (link.kind !== 'bridge') {
      // Not something volt made: never delete another program's interface.
      this.host.warn(`${what}: ${describeLink(link)}, not a bridge; left alone`);
      return;
    }
    await deleteLink(what, spec.ifname);
  }

  inspectBridges(ifnames: readonly string[]): Promise<BridgeObservation[]> {
    return observeBridges(ifnames);
  }

  async inspectBridge(ifname: string): Promise<BridgeObservation> {
    return observeBridge(ifname);
  }

  // Container ports: a veth pair, host end on the bridge (@volt/sdk/kernel veth.ts).
  setupContainerPort(spec: ContainerPortSpec): Promise<void> {
    return setupVethPort(spec);
  }

  configureContainerPort(spec: ContainerPortSpec): Promise<void> {
    return configureVethPeer(spec);
  }

  teardownContainerPort(spec: Pick<ContainerPortSpec, 'hostIfname' | 'network' | 'workload'>): Promise<void> {
    return teardownVethPort(spec);
  }

  // Batches of container ports (`volt net connect NET W1 … WN`): one `ip -batch` for the host ends.
  setupContainerPorts(specs: readonly ContainerPortSpec[]): Promise<void> {
    return setupVethPorts(specs);
  }

  configureContainerPorts(specs: readonly ContainerPortSpec[]): Promise<void> {
    return configureVethPeers(specs);
  }

  teardownContainerPorts(specs: readonly Pick<ContainerPortSpec, 'hostIfname' | 'network' | 'workload'>[]): Promise<void> {
    return teardownVethPorts(specs);
  }

  // VLAN uplinks (direct-vlan.ts).
  vlanSupport(): Promise<Availability> {
    return this.vlans.vlanSupport();
  }

  setupVlan(spec: VlanSpec): Promise<void> {
    return this.vlans.setupVlan(spec);
  }

  teardownVlan(spec: VlanSpec): Promise<void> {
    return this.vlans.teardownVlan(spec);
  }

  inspectVlans(ifnames: readonly string[]): Promise<VlanObservation[]> {
    return this.vlans.inspectVlans(ifnames);
  }

  /** Undo a bridge this call created when a later step failed; the original error wins. */
  private async removeCreated(ifname: string): Promise<void> {
    try {
      await deleteLink(`undo create bridge "${ifname}"`, ifname);
    } catch (e: unknown) {
      this.host.warn(errorMessage(e));
    }
  }
}

/** The `ip -batch` lines that take the kernel from `link` to `spec`; empty when converged. */
export function planBridge(
  spec: BridgeSpec,
  link: IpLink | undefined,
  tuning: BridgeTuning | undefined,
  ipv6: boolean,
): string[] {
  const dev = spec.ifname;
  const mac = spec.mac.toLowerCase();
  if (!link) {
    return [
      `link add name ${dev} address ${mac} type bridge stp_state 0 forward_delay 0`,
      `link set dev ${dev} alias volt:${spec.network}`, // ownership mark without state (core/src/services/leftovers.ts)
      // Not `mtu` on `link add`: an MTU given at creation does not count as set by the user,
      // and the kernel then moves the bridge to its ports' minimum MTU when one joins. A new
      // bridge has 1500; any other value set afterwards stays put.
      ...(spec.mtu !== DEFAULT_BRIDGE_MTU ? [`link set dev ${dev} mtu ${spec.mtu}`] : []),
      // Before `up`: no IPv6 link-local address, hence no DAD/MLD flooded to every port.
      ...(ipv6 ? [`link set dev ${dev} addrgenmode none`] : []),
      `addr replace ${spec.address} dev ${dev}`,
      ...v6AddressLines(spec, undefined),
      `link set dev ${dev} up`,
    ];
  }
  const lines: string[] = [];
  // Two lines: the kernel checks forward_delay's range before it turns STP off.
  if (tuning?.stpState !== 0) lines.push(`link set dev ${dev} type bridge stp_state 0`);
  if (tuning?.forwardDelay !== 0) lines.push(`link set dev ${dev} type bridge forward_delay 0`);
  if ((link.mac ?? '').toLowerCase() !== mac) lines.push(`link set dev ${dev} address ${mac}`);
  if (link.mtu !== spec.mtu) lines.push(`link set dev ${dev} mtu ${spec.mtu}`);
  const flush = ipv6 && tuning?.addrGenMode !== undefined && tuning.addrGenMode !== ADDR_GEN_MODE_NONE;
  if (flush) lines.push(`link set dev ${dev} addrgenmode none`, `addr flush dev ${dev} scope link`);
  if (!link.addresses.includes(spec.address)) lines.push(`addr replace ${spec.address} dev ${dev}`);
  lines.push(...v6AddressLines(spec, flush ? { ...link, linkLocal: [] } : link));
  if (!link.up) lines.push(`link set dev ${dev} up`);
  return lines;
}

/**
 * A dual-stack bridge's two IPv6 addresses, both without DAD so the gateway answers at once:
 * the gateway (prefix::1) and its link-local address, the EUI-64 of the bridge's stable MAC.
 * addrgenmode stays none, so these are the only IPv6 addresses it has (docs/ipv6.md).
 * The `addr flush scope link` of a converge runs before these lines and would take the
 * link-local with it, hence it is re-added whenever the flush is planned.
 */
function v6AddressLines(spec: BridgeSpec, link: IpLink | undefined): string[] {
  if (spec.address6 === undefined) return [];
  const dev = spec.ifname;
  const lines: string[] = [];
  if (!link || !link.addresses.includes(spec.address6)) lines.push(`addr replace ${spec.address6} dev ${dev} nodad`);
  if (spec.linkLocal6 !== undefined && (!link || !(link.linkLocal ?? []).includes(spec.linkLocal6))) {
    lines.push(`addr replace ${spec.linkLocal6} dev ${dev} nodad`);
  }
  return lines;
}

/** What the kernel says about a bridge: shared by set-up checks and `inspectBridge`. */
export async function observeBridge(ifname: string): Promise<BridgeObservation> {
  return (await observeBridges([ifname]))[0]!;
}

async function readLink(what: string, ifname: string): Promise<IpLink | undefined> {
  try {
    return await getLink(ifname);
  } catch (e: unknown) {
    if (isVoltError(e)) throw e;
    throw new DriverError(`${what}: ${errorMessage(e)}`, { code: 'E_KERNEL', cause: e });
  }
}

async function readTuning(ifname: string): Promise<BridgeTuning> {
  const tuning: BridgeTuning = {};
  const r = await runCommand('ip', ['-j', '-d', 'link', 'show', 'dev', ifname]);
  if (r.code === 0) {
    try {
      const raw: unknown = JSON.parse(r.stdout);
      const data = Array.isArray(raw)
        ? (raw[0] as { linkinfo?: { info_data?: { stp_state?: unknown; forward_delay?: unknown } } } | undefined)
            ?.linkinfo?.info_data
        : undefined;
      if (typeof data?.stp_state === 'number') tuning.stpState = data.stp_state;
      if (typeof data?.forward_delay === 'number') tuning.forwardDelay = data.forward_delay;
    } catch {
      // Unreadable output: leave the fields unknown, which plans the (harmless) reset.
    }
  }
  try {
    tuning.addrGenMode = Number((await fs.readFile(`/proc/sys/net/ipv6/conf/${ifname}/addr_gen_mode`, 'utf8')).trim());
  } catch {
    tuning.addrGenMode = undefined;
  }
  return tuning;
}

async function ipv6Present(): Promise<boolean> {
  try {
    await fs.access('/proc/sys/net/ipv6/conf');
    return true;
  } catch {
    return false;
  }
}

/** Routing between networks and to the uplink needs it; networkd's IPForward=yes does the same. */
async function ensureIpv4Forwarding(): Promise<void> {
  const file = '/proc/sys/net/ipv4/ip_forward';
  if ((await fs.readFile(file, 'utf8')).trim() === '1') return;
  await fs.writeFile(file, '1\n');
}

/**
 * A dual-stack bridge routes IPv6: forwarding on (net.ipv6.conf.all.forwarding, which also makes
 * the host ignore router advertisements on interfaces whose accept_ra is 1: docs/ipv6.md), and the
 * bridge itself never takes a workload's router advertisement (accept_ra 0).
 */
async function ensureIpv6Router(bridge: string): Promise<void> {
  const all = '/proc/sys/net/ipv6/conf/all/forwarding';
  if ((await fs.readFile(all, 'utf8')).trim() !== '1') await fs.writeFile(all, '1\n');
  const ra = `/proc/sys/net/ipv6/conf/${bridge}/accept_ra`;
  if ((await fs.readFile(ra, 'utf8')).trim() !== '0') await fs.writeFile(ra, '0\n');
}

async function deleteLink(what: string, ifname: string): Promise<void> {
  const r = await runCommand('ip', ['link', 'del', 'dev', ifname]);
  if (okOrGone(r)) return;
  throw new DriverError(`${what}: ${r.stderr.trim() || `ip exited with ${r.code}`}`, { code: 'E_KERNEL' });
}

function describeLink(link: IpLink): string {
  return link.kind ? `interface ${link.ifname} exists and is a ${link.kind} link` : `interface ${link.ifname} exists and is a plain device`;
}

function notABridge(what: string, link: IpLink): DriverError {
  return new DriverError(`${what}: ${describeLink(link)}, not a bridge`, {
    code: 'E_BRIDGE_NAME_TAKEN',
    suggestions: [
      `see what it is: ip -d link show ${link.ifname}`,
      `remove that interface, or give the network another bridge name`,
    ],
  });
}

/** Whether `name` is an executable file in $PATH (execvp's search: an empty entry is the current directory). */
function executableInPath(name: string, pathVar = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'): boolean {
  for (const dir of pathVar.split(':')) {
    const file = join(dir || '.', name);
    try {
      accessSync(file, fsConstants.X_OK);
      if (statSync(file).isFile()) return true;
    } catch {
      // not here
    }
  }
  return false;
}
