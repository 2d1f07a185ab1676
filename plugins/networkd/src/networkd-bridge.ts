import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { HostContext } from '@volt/sdk';
import type { BridgeDriver, BridgeObservation, BridgeSpec, ContainerPortSpec, VlanObservation, VlanSpec } from '@volt/sdk';
import type { Availability } from '@volt/sdk';
import { DriverError, errorMessage, isVoltError } from '@volt/sdk';
import { okOrGone, runCommand } from '@volt/sdk/kernel';
import { getLink, observeBridges, type IpLink } from '@volt/sdk/kernel';
import { checkBridgeSpec } from '@volt/sdk/kernel';
import { configureVethPeer, configureVethPeers, setupVethPort, setupVethPorts, teardownVethPort, teardownVethPorts } from '@volt/sdk/kernel';
import { networkctl, networkdLinkState, networkdVersion, type NetworkdLinkState } from './networkctl';
import { removeUnits, restoreUnits, writeChangedUnits } from './unit-files';
import { bridgeUnitNames, renderBridgeUnits } from './units';
import { NetworkdVlans } from './networkd-vlan';

export interface NetworkdBridgeOptions {
  /** How long set-up waits for networkd to configure the bridge (default 10 s). */
  timeoutMs?: number;
  /** Poll interval while waiting (default 50 ms). */
  pollMs?: number;
}

/** The systemd this project targets (Debian 12); used when `networkctl --version` says nothing useful. */
const DEFAULT_SYSTEMD_VERSION = 252;
/** networkd may report "failed" for a moment after a reload; believe it after this long. */
const FAILED_GRACE_MS = 1000;

interface Observed {
  link?: IpLink;
  networkd?: NetworkdLinkState;
}

/**
 * Bridges as systemd-networkd units: volt writes 10-volt-<ifname>.netdev and
 * .network, asks networkd to reload, and waits until networkd says the link is
 * configured. Persistent across reboots without volt, and visible to
 * `networkctl` like any other interface on the host.
 */
export class NetworkdBridge implements BridgeDriver {
  readonly name = 'networkd';
  readonly preference = 10;
  readonly fallback = false;
  readonly description = 'Linux bridges as systemd-networkd units (.netdev/.network)';

  private version: Promise<number> | undefined;
  private vlanPart?: NetworkdVlans;

  constructor(
    private readonly host: HostContext,
    private readonly options: NetworkdBridgeOptions = {},
  ) {}

  async available(): Promise<Availability> {
    // networkd is reached over the system bus; with no bus socket there is nothing to ask,
    // and checking for it costs a stat instead of spawning busctl (part of every `volt` call that picks a bridge driver).
    const bus = systemBusSocket(process.env);
    if (bus !== undefined && !(await isSocket(bus))) {
      this.host.debug(`networkd probe: no system bus socket at ${bus}`);
      return { ok: false, reason: 'networkd not running' };
    }
    const r = await runCommand(
      'busctl',
      ['--system', '--timeout=2', 'call', 'org.freedesktop.network1', '/org/freedesktop/network1', 'org.freedesktop.DBus.Peer', 'Ping'],
      { timeoutMs: 3000 },
    );
    if (r.code === 0) return { ok: true, reason: 'networkd answers on D-Bus' };
    if (r.code === 127) return { ok: false, reason: 'busctl not installed' };
    return { ok: false, reason: 'networkd not running' };
  }

  async setupBridge(spec: BridgeSpec): Promise<void> {
    checkBridgeSpec(spec);
    const what = `set up bridge "${spec.ifname}" for network "${spec.network}"`;
    const existing = await readLink(what, spec.ifname);
    // networkd would only log that the name is taken; say it here, before writing anything.
    if (existing && existing.kind !== 'bridge') throw notABridge(what, existing);

    const dir = this.host.paths.networkdEtcDir;
    const units = renderBridgeUnits(spec, { systemdVersion: await this.systemdVersion() });
    const files = [units.netdev, units.network].map((u) => path.join(dir, u.name));
    const previous = await writeChangedUnits(dir, [units.netdev, units.network]);
    const started = Date.now();
    if (previous.length > 0) {
      this.host.debug(`${what}: wrote ${previous.map((p) => p.file).join(', ')}; networkctl reload`);
      try {
        await networkctl(what, ['reload']);
      } catch (e: unknown) {
        await restoreUnits(previous);
        throw e;
      }
    } else {
      const now = await this.observe(spec, true);
      if (converged(now, spec)) return;
      // Units unchanged but the kernel drifted (link deleted, address removed, set down):
      // a reload re-creates a missing netdev, a reconfigure re-applies the .network.
      this.host.debug(`${what}: units unchanged, kernel differs; asking networkd to re-apply`);
      await networkctl(what, now.link ? ['reconfigure', spec.ifname] : ['reload']);
    }
    try {
      await this.waitConfigured(what, spec, files, started);
    } catch (e: unknown) {
      await this.rollback(what, spec, previous, existing === undefined);
      throw e;
    }
    await runCommand('ip', ['link', 'set', 'dev', spec.ifname, 'alias', `volt:${spec.network}`]); // ownership mark besides the unit (core/src/services/leftovers.ts)
  }

  /**
   * A set-up networkd did not complete: the units as they were before this call, and a bridge
   * this call made removed again (best effort: the original error is on its way), so nothing
   * half-made remains (found by the conformance kit's rollback case, an address the kernel refuses).
   */
  private async rollback(what: string, spec: BridgeSpec, previous: Awaited<ReturnType<typeof writeChangedUnits>>, created: boolean): Promise<void> {
    if (previous.length > 0) {
      await restoreUnits(previous);
      await networkctl(what, ['reload']).catch(() => undefined);
    }
    if (!created) return;
    const link = await readLink(what, spec.ifname).catch(() => undefined);
    if (link?.kind !== 'bridge') return;
    const r = await runCommand('networkctl', ['delete', spec.ifname], { timeoutMs: 5000 });
    if (r.code !== 0) await runCommand('ip', ['link', 'del', 'dev', spec.ifname]);
  }

  async teardownBridge(spec: BridgeSpec): Promise<void> {
    const what = `tear down bridge "${spec.ifname}" of network "${spec.network}"`;
    const names = bridgeUnitNames(spec.ifname);
    const removed = await removeUnits(this.host.paths.networkdEtcDir, [names.netdev, names.network]);
    if (removed.length > 0) {
      // Without this reload networkd would re-create the bridge the next time the link goes.
      // If networkd is not running it has nothing loaded to forget: go on.
      try {
        await networkctl(what, ['reload']);
      } catch (e: unknown) {
        this.host.warn(errorMessage(e));
      }
    }
    const link = await readLink(what, spec.ifname);
    if (!link) return;
    if (link.kind !== 'bridge') {
      this.host.warn(`${what}: ${describeKind(link)}, not a bridge; left alone`);
      return;
    }
    // networkd never deletes a netdev whose unit went away; remove the link ourselves.
    const r = await runCommand('networkctl', ['delete', spec.ifname], { timeoutMs: 5000 });
    if (r.code === 0 || !(await readLink(what, spec.ifname))) return;
    const ip = await runCommand('ip', ['link', 'del', 'dev', spec.ifname]);
    if (okOrGone(ip)) return;
    throw new DriverError(`${what}: ${ip.stderr.trim() || r.stderr.trim() || 'could not delete the link'}`, {
      code: 'E_KERNEL',
    });
  }

  inspectBridges(ifnames: readonly string[]): Promise<BridgeObservation[]> {
    return observeBridges(ifnames);
  }

  async inspectBridge(ifname: string): Promise<BridgeObservation> {
    return (await observeBridges([ifname]))[0]!;
  }

  // Container ports: a veth pair whose host end networkd's bridge takes as a port. No unit is
  // written for it: the pair lives and dies with the container's namespace, as the veth does
  // under the direct driver, and a reload per connect would make connects slow on busy hosts.
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

  // VLAN uplinks (networkd-vlan.ts).
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

  private get vlans(): NetworkdVlans {
    this.vlanPart ??= new NetworkdVlans(this.host, this.options);
    return this.vlanPart;
  }

  private systemdVersion(): Promise<number> {
    this.version ??= networkdVersion().then((v) => v ?? DEFAULT_SYSTEMD_VERSION);
    return this.version;
  }

  /** The kernel first; networkd is asked only once the kernel already looks right (or `full`). */
  private async observe(spec: BridgeSpec, full: boolean): Promise<Observed> {
    const link = await readLink(`read bridge "${spec.ifname}"`, spec.ifname);
    if (!link || (!full && !kernelMatches(link, spec))) return { link };
    return { link, networkd: await networkdLinkState(spec.ifname) };
  }

  private async waitConfigured(what: string, spec: BridgeSpec, files: string[], started: number): Promise<void> {
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    const pollMs = this.options.pollMs ?? 50;
    for (;;) {
      const now = await this.observe(spec, false);
      if (converged(now, spec)) return;
      const elapsed = Date.now() - started;
      const failed = now.networkd?.adminState === 'failed' && elapsed >= FAILED_GRACE_MS;
      if (failed || elapsed >= timeoutMs) {
        throw notConfigured(what, spec, files, await this.observe(spec, true), failed ? undefined : timeoutMs);
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }
}

/**
 * The path of the system bus socket busctl would connect to: $DBUS_SYSTEM_BUS_ADDRESS
 * (sd-bus reads it too) or the default. undefined when the address is not a plain
 * `unix:path=` one (abstract socket, tcp, several addresses): then only busctl can tell.
 */
export function systemBusSocket(env: NodeJS.ProcessEnv): string | undefined {
  const address = env.DBUS_SYSTEM_BUS_ADDRESS;
  if (address === undefined || address === '') return '/run/dbus/system_bus_socket';
  const m = /^unix:path=([^,;]+)$/.exec(address);
  return m ? decodeURIComponent(m[1]!) : undefined;
}

async function isSocket(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isSocket();
  } catch {
    return false;
  }
}

function kernelMatches(link: IpLink, spec: BridgeSpec): boolean {
  return (
    link.kind === 'bridge' &&
    link.up &&
    link.mtu === spec.mtu &&
    (link.mac ?? '').toLowerCase() === spec.mac.toLowerCase() &&
    link.addresses.includes(spec.address) &&
    (spec.address6 === undefined || link.addresses.includes(spec.address6))
  );
}

function converged(o: Observed, spec: BridgeSpec): boolean {
  return o.link !== undefined && kernelMatches(o.link, spec) && o.networkd?.adminState === 'configured';
}

async function readLink(what: string, ifname: string): Promise<IpLink | undefined> {
  try {
    return await getLink(ifname);
  } catch (e: unknown) {
    if (isVoltError(e)) throw e;
    throw new DriverError(`${what}: ${errorMessage(e)}`, { code: 'E_KERNEL', cause: e });
  }
}

/** "up, mtu 1450, mac 02:…, no address (wants 10.30.0.1/24)": what differs is what the operator needs. */
function describeLinkState(link: IpLink | undefined, spec: BridgeSpec): string {
  if (!link) return 'the link does not exist';
  const parts = [link.up ? 'up' : 'down'];
  parts.push(link.mtu === spec.mtu ? `mtu ${link.mtu}` : `mtu ${link.mtu} (wants ${spec.mtu})`);
  const mac = (link.mac ?? '?').toLowerCase();
  parts.push(mac === spec.mac.toLowerCase() ? `mac ${mac}` : `mac ${mac} (wants ${spec.mac.toLowerCase()})`);
  const addrs = link.addresses.length > 0 ? `addresses ${link.addresses.join(', ')}` : 'no address';
  parts.push(link.addresses.includes(spec.address) ? addrs : `${addrs} (wants ${spec.address})`);
  return `the link is ${parts.join(', ')}`;
}

function describeNetworkd(state: NetworkdLinkState | undefined, ownNetworkFile: string): string {
  if (!state) return 'networkd does not know the link';
  let text = `networkd says "${state.adminState}"`;
  if (state.networkFile && path.basename(state.networkFile) !== ownNetworkFile) {
    text += ` and applies ${state.networkFile} to it, not volt's unit`;
  } else if (!state.networkFile && state.adminState === 'unmanaged') {
    text += ' (no .network applies, or one that sorts first says Unmanaged=yes)';
  }
  return text;
}

function notConfigured(
  what: string,
  spec: BridgeSpec,
  files: string[],
  o: Observed,
  timeoutMs: number | undefined,
): DriverError {
  const verdict =
    timeoutMs === undefined
      ? 'systemd-networkd failed to configure it'
      : `systemd-networkd did not configure it within ${formatSeconds(timeoutMs)}`;
  const own = bridgeUnitNames(spec.ifname).network;
  return new DriverError(
    `${what}: ${verdict}: ${describeLinkState(o.link, spec)}; ${describeNetworkd(o.networkd, own)}. ` +
      `Units (left in place): ${files.join(', ')}`,
    {
      code: 'E_NETWORKD_TIMEOUT',
      suggestions: [
        `networkctl status ${spec.ifname}`,
        'journalctl -u systemd-networkd',
        `check other .network files in ${path.dirname(files[0] ?? '/etc/systemd/network')} that match ${spec.ifname}`,
      ],
    },
  );
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

function describeKind(link: IpLink): string {
  return link.kind
    ? `interface ${link.ifname} exists and is a ${link.kind} link`
    : `interface ${link.ifname} exists and is a plain device`;
}

function notABridge(what: string, link: IpLink): DriverError {
  return new DriverError(`${what}: ${describeKind(link)}, not a bridge`, {
    code: 'E_BRIDGE_NAME_TAKEN',
    suggestions: [`see what it is: ip -d link show ${link.ifname}`, 'remove that interface, or give the network another bridge name'],
  });
}
