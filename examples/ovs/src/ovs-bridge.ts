import { promises as fs } from 'node:fs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Availability, BridgeDriver, BridgeObservation, BridgeSpec, BridgeSwitchedPolicies, ContainerPortSpec, HostContext, SwitchedPolicySet, TapPortSpec } from '@volt/sdk';
import { DriverError, errorMessage } from '@volt/sdk';
import { checkBridgeSpec, configureVethPeer, getLink, ipBatch, observeBridges, okOrGone, portAlias, runCommand, type IpLink } from '@volt/sdk/kernel';
import { Ovs } from './ovs';
import { IPV6_GATE_FLOW, cookieOf, describeFlowDiff, flowTable } from './policy-flows';

/** Marks the flows this driver installs (`ovs-ofctl dump-flows BR cookie=…/-1`); policy flows carry more bits above it. */
export const FLOW_COOKIE = cookieOf(); // "volt"
/**
 * volt's rule for networks without IPv6: no IPv6 crosses the bridge to or from workloads. On a
 * Linux bridge nftables' `table bridge volt` does it; Open vSwitch never hands its frames to
 * netfilter, so the driver drops them in the switch itself.
 */
export { IPV6_GATE_FLOW };

/**
 * Networks as Open vSwitch bridges; container veths and VM TAPs as their ports. The kernel side
 * (the bridge's internal port with the gateway address, the veth pairs, the namespace end) is
 * iproute2 through @volt/sdk/kernel, as for a Linux bridge. NAT and the firewall stay with the
 * firewall driver (nftables): routed traffic leaves through the internal port and meets its
 * chains as usual. Frames switched between two ports never reach netfilter, which the driver
 * says (`filtersSwitchedTraffic: false`), so it enforces workload policies between its ports
 * itself (capability `switched-policies`): OpenFlow flows with Open vSwitch conntrack,
 * policy-flows.ts.
 */
export class OvsBridge implements BridgeDriver, BridgeSwitchedPolicies {
  readonly name = 'ovs';
  /** Above the fallback (direct), below networkd: detected when Open vSwitch is installed, unless `drivers.bridge` pins another. */
  readonly preference = 5;
  readonly fallback = false;
  readonly description = 'Open vSwitch bridges (ovs-vsctl; private userspace-datapath daemons unless VOLT_OVS_DB names the site\'s)';
  readonly filtersSwitchedTraffic = false;

  private readonly ovs: Ovs;

  constructor(private readonly host: HostContext, env: NodeJS.ProcessEnv = process.env) {
    this.ovs = new Ovs(host, env);
  }

  async available(): Promise<Availability> {
    const missing = this.ovs.missingTools();
    if (missing.length > 0) return { ok: false, reason: `Open vSwitch not installed (missing ${missing.join(', ')})` };
    const s = this.ovs.settings;
    return { ok: true, reason: s.managed ? `Open vSwitch installed; private daemons, datapath ${s.datapath}` : `Open vSwitch at ${s.db} (VOLT_OVS_DB), datapath ${s.datapath}` };
  }

  async setupBridge(spec: BridgeSpec): Promise<void> {
    checkBridgeSpec(spec);
    const what = `set up Open vSwitch bridge "${spec.ifname}" for network "${spec.network}"`;
    if (spec.address6 !== undefined) {
      // Refused before anything is made: the switch drops IPv6 (the gate), and neither router
      // advertisements, neighbour discovery on the ports nor IPv6 policies exist in this driver.
      throw new DriverError(`${what}: the Open vSwitch driver does not support dual-stack networks (IPv6 ${spec.address6})`, {
        code: 'E_DRIVER_UNSUPPORTED',
        suggestions: ['create the network without --subnet6', 'or use a bridge driver with IPv6 (drivers.bridge: direct or networkd) for dual-stack networks'],
      });
    }
    await this.ovs.ensureRunning(what);
    const known = await this.isOvsBridge(spec.ifname);
    let keep: { port: string; owner: string }[] = [];
    if (!known) {
      const link = await readLink(what, spec.ifname);
      if (link) throw nameTaken(what, link);
    } else if (!(await readLink(what, spec.ifname))) {
      // The internal port was deleted behind the driver (`ip link del`): ovs-vswitchd does not make
      // it again, so the bridge is made again, with the ports it had (veths and TAPs still exist).
      keep = await this.portsWithOwners(spec.ifname);
      await this.ovs.vsctl(what, ['--if-exists', 'del-br', spec.ifname]);
    }
    try {
      await this.ovs.vsctl(what, [
        '--may-exist', 'add-br', spec.ifname,
        '--', 'set', 'bridge', spec.ifname, `datapath_type=${this.ovs.settings.datapath}`, `other-config:hwaddr="${spec.mac.toLowerCase()}"`, `external_ids:volt-network=${spec.network}`,
        '--', 'set', 'interface', spec.ifname, `mtu_request=${spec.mtu}`,
      ]);
      await this.ovs.ofctl(what, ['add-flow', spec.ifname, IPV6_GATE_FLOW]);
      // The internal port is a kernel link now (ovs-vsctl waits for ovs-vswitchd): gateway, mark, up.
      const ipv6 = await ipv6Present();
      await ipBatch(what, [
        // Before `up`: no IPv6 link-local address, so no DAD/MLD flooded to every port.
        ...(ipv6 ? [`link set dev ${spec.ifname} addrgenmode none`] : []),
        `link set dev ${spec.ifname} alias volt:${spec.network}`,
        `addr replace ${spec.address} dev ${spec.ifname}`,
        `link set dev ${spec.ifname} up`,
      ]);
      await ensureIpv4Forwarding(what);
      for (const k of keep) await this.plug(what, spec.ifname, k.port, k.owner);
    } catch (e: unknown) {
      if (!known) await this.removeCreated(spec.ifname);
      throw e;
    }
  }

  async teardownBridge(spec: BridgeSpec): Promise<void> {
    const what = `tear down Open vSwitch bridge "${spec.ifname}" of network "${spec.network}"`;
    if (await this.daemonsNeeded()) {
      await this.ovs.ensureRunning(what);
      if (await this.isOvsBridge(spec.ifname)) {
        await this.ovs.vsctl(what, ['--if-exists', 'del-br', spec.ifname]);
      } else {
        const link = await readLink(what, spec.ifname);
        // Not something this driver made: never delete another program's interface.
        if (link) this.host.warn(`${what}: ${describeLink(link)}, not an Open vSwitch bridge; left alone`);
      }
    } else {
      const link = await readLink(what, spec.ifname);
      if (link) this.host.warn(`${what}: ${describeLink(link)}, not an Open vSwitch bridge; left alone`);
    }
    await this.ovs.stopIfIdle();
  }

  async inspectBridge(ifname: string): Promise<BridgeObservation> {
    return (await this.inspectBridges([ifname]))[0]!;
  }

  /** The kernel's view of the internal ports (addresses, MTU, MAC, up), ports and kind from ovsdb; one read of each. */
  async inspectBridges(ifnames: readonly string[]): Promise<BridgeObservation[]> {
    if (ifnames.length === 0) return [];
    const kernel = await observeBridges(ifnames);
    const bridges = (await this.ovs.running()) ? await this.listBridges() : new Map<string, string[]>();
    return Promise.all(
      kernel.map(async (o) => {
        const ports = bridges.get(o.ifname);
        if (ports === undefined) {
          // A link of that name that is not one of our bridges (a Linux bridge left from another driver, say).
          return o.exists ? { ...o, kind: o.kind === 'bridge' ? 'Linux bridge (not Open vSwitch)' : o.kind, ports: [] } : o;
        }
        // An OVS bridge whose internal port is missing in the kernel is reported missing: set-up re-creates it.
        if (!o.exists) return { ...o, ports };
        return { ...o, kind: 'bridge', ports, problems: await this.flowProblems(o.ifname) };
      }),
    );
  }

  /** The driver's own OpenFlow rules on a bridge, as drift when one is missing. */
  private async flowProblems(bridge: string): Promise<string[]> {
    const r = await this.ovs.run('ovs-ofctl', ['dump-flows', bridge, `cookie=${FLOW_COOKIE}/-1`]);
    if (r.code !== 0) return [`Open vSwitch bridge ${bridge}: its flows cannot be read (${r.stderr.trim()})`];
    return /priority=100,ipv6 actions=drop/.test(r.stdout) ? [] : [`Open vSwitch bridge ${bridge} lacks the flow that keeps IPv6 off the network (${IPV6_GATE_FLOW})`];
  }

  // Policies between ports (capability switched-policies): the bridge's whole flow table, one bundle.
  async applySwitchedPolicies(sets: readonly SwitchedPolicySet[]): Promise<void> {
    if (!(await this.ovs.running())) return;
    const byBridge = new Map(sets.map((s) => [s.bridge, s]));
    for (const bridge of await this.voltBridges()) {
      const set = byBridge.get(bridge);
      const what = `enforce the policies of network "${set?.network ?? bridge}" on Open vSwitch bridge ${bridge}`;
      // replace-flows: ovs-ofctl reads the table, then changes only the difference, in one bundle (atomic).
      await this.ovs.ofctl(what, ['--bundle', 'replace-flows', bridge, '-'], `${flowTable(set).join('\n')}\n`);
    }
  }

  async checkSwitchedPolicies(sets: readonly SwitchedPolicySet[]): Promise<string[]> {
    if (!(await this.ovs.running())) return [];
    const byBridge = new Map(sets.map((s) => [s.bridge, s]));
    const out: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'volt-ovs-'));
    try {
      for (const bridge of await this.voltBridges()) {
        const set = byBridge.get(bridge);
        const file = join(dir, `${bridge}.flows`);
        writeFileSync(file, `${flowTable(set).join('\n')}\n`);
        const r = await this.ovs.run('ovs-ofctl', ['diff-flows', bridge, file]);
        // 0: the same; 2: differences (printed); anything else: the switch could not be read.
        if (r.code !== 0 && r.code !== 2) {
          out.push(`Open vSwitch bridge ${bridge}: its flows cannot be read (${(r.stderr || r.stdout).trim()})`);
          continue;
        }
        out.push(...describeFlowDiff(bridge, set, r.stdout));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return out;
  }

  /** The Open vSwitch bridges volt made (external_ids:volt-network), by name. */
  private async voltBridges(): Promise<string[]> {
    const out = await this.ovs.vsctl('list Open vSwitch bridges', ['--format=json', '--', '--columns=name,external_ids', 'list', 'bridge']);
    const doc = JSON.parse(out) as { data: unknown[][] };
    return doc.data
      .filter((row) => JSON.stringify(row[1]).includes('"volt-network"'))
      .map((row) => String(row[0]))
      .sort();
  }

  // Container ports: a veth pair, the host end an OVS port.
  async setupContainerPort(spec: ContainerPortSpec): Promise<void> {
    const what = `connect "${spec.workload}" to "${spec.network}": create veth ${spec.hostIfname} on Open vSwitch bridge ${spec.bridge}`;
    await this.ovs.ensureRunning(what);
    const link = await readLink(what, spec.hostIfname);
    if (link && link.kind !== 'veth') {
      throw new DriverError(`${what}: ${describeLink(link)}`, { code: 'E_LINK_EXISTS', suggestions: [`see what it is: ip -d link show ${spec.hostIfname}`] });
    }
    if (!link) {
      await ipBatch(what, [
        `link add name ${spec.hostIfname} mtu ${spec.mtu} type veth peer name ${spec.ifname} address ${spec.mac} mtu ${spec.mtu} netns ${spec.netns}`,
      ]);
    }
    try {
      await hostStackOff(what, spec.hostIfname);
      await ipBatch(what, [
        `link set dev ${spec.hostIfname} addrgenmode none`,
        `link set dev ${spec.hostIfname} alias ${portAlias(spec)}`,
        `link set dev ${spec.hostIfname} up`,
      ]);
      await this.plug(what, spec.bridge, spec.hostIfname, portAlias(spec));
    } catch (e: unknown) {
      if (!link) await deleteLink(`undo ${what}`, spec.hostIfname).catch((e2: unknown) => this.host.warn(errorMessage(e2)));
      throw e;
    }
  }

  /** Inside the namespace nothing differs from a Linux bridge: the SDK's helper. */
  configureContainerPort(spec: ContainerPortSpec): Promise<void> {
    return configureVethPeer(spec);
  }

  async teardownContainerPort(spec: Pick<ContainerPortSpec, 'hostIfname' | 'network' | 'workload'>): Promise<void> {
    const what = `disconnect "${spec.workload}" from "${spec.network}": remove veth ${spec.hostIfname}`;
    if (await this.ovs.running()) await this.ovs.vsctl(what, ['--if-exists', 'del-port', spec.hostIfname]);
    await deleteLink(what, spec.hostIfname);
  }

  // VM TAPs (capability tap-ports): the vm-nic driver makes the TAP on no bridge, this plugs it in.
  async attachTap(spec: TapPortSpec): Promise<void> {
    const what = `plug TAP ${spec.ifname} of VM "${spec.vm}" NIC ${spec.nicId} into Open vSwitch bridge ${spec.bridge}`;
    await this.ovs.ensureRunning(what);
    await hostStackOff(what, spec.ifname);
    await ipBatch(what, [`link set dev ${spec.ifname} mtu ${spec.mtu}`, `link set dev ${spec.ifname} up`]);
    await this.plug(what, spec.bridge, spec.ifname, `vm/${spec.vm}/${spec.nicId}`);
  }

  async detachTap(spec: Pick<TapPortSpec, 'vm' | 'nicId' | 'ifname'>): Promise<void> {
    if (!(await this.ovs.running())) return;
    await this.ovs.vsctl(`unplug TAP ${spec.ifname} of VM "${spec.vm}"`, ['--if-exists', 'del-port', spec.ifname]);
  }

  async tapBridge(ifname: string): Promise<string | undefined> {
    if (!(await this.ovs.running())) return undefined;
    const r = await this.ovs.vsctlRaw(['port-to-br', ifname]);
    return r.code === 0 ? r.stdout.trim() || undefined : undefined;
  }

  /** The ports of a bridge with the owner mark plug() gave them. */
  private async portsWithOwners(bridge: string): Promise<{ port: string; owner: string }[]> {
    const ports = (await this.ovs.vsctl(`list the ports of ${bridge}`, ['list-ports', bridge])).split('\n').filter((l) => l !== '');
    if (ports.length === 0) return [];
    const out = await this.ovs.vsctl(`list the ports of ${bridge}`, ['--format=json', '--columns=name,external_ids', 'list', 'interface', ...ports]);
    const doc = JSON.parse(out) as { data: unknown[][] };
    return doc.data.map((row) => {
      const ids = Array.isArray(row[1]) && row[1][0] === 'map' ? (row[1][1] as [string, string][]) : [];
      return { port: String(row[0]), owner: ids.find(([k]) => k === 'volt-owner')?.[1] ?? '' };
    });
  }

  /** Make `port` a port of `bridge` (moving it off another bridge first), marked with its owner. */
  private async plug(what: string, bridge: string, port: string, owner: string): Promise<void> {
    const on = await this.ovs.vsctlRaw(['port-to-br', port]);
    const current = on.code === 0 ? on.stdout.trim() : undefined;
    const move = current !== undefined && current !== bridge ? ['--if-exists', 'del-port', current, port, '--'] : [];
    await this.ovs.vsctl(what, [...move, '--may-exist', 'add-port', bridge, port, '--', 'set', 'interface', port, `external_ids:volt-owner="${owner}"`]);
  }

  private async isOvsBridge(ifname: string): Promise<boolean> {
    const r = await this.ovs.vsctlRaw(['br-exists', ifname]);
    if (r.code === 0) return true;
    if (r.code === 2) return false;
    throw new DriverError(`read Open vSwitch bridge ${ifname}: ${r.stderr.trim() || `ovs-vsctl exited with ${r.code}`}`, { code: 'E_KERNEL' });
  }

  /** Bridge name → its ports (without the bridge's own internal port), from one ovs-vsctl call. */
  private async listBridges(): Promise<Map<string, string[]>> {
    const out = await this.ovs.vsctl('list Open vSwitch bridges', ['--format=json', '--', '--columns=name,ports', 'list', 'bridge', '--', '--columns=_uuid,name', 'list', 'port']);
    const [bridgeDoc, portDoc] = out.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { data: unknown[][] });
    const portName = new Map<string, string>();
    for (const row of portDoc?.data ?? []) portName.set(uuidOf(row[0]), String(row[1]));
    const bridges = new Map<string, string[]>();
    for (const row of bridgeDoc?.data ?? []) {
      const name = String(row[0]);
      bridges.set(
        name,
        setOf(row[1]).map((u) => portName.get(u) ?? u).filter((p) => p !== name).sort(),
      );
    }
    return bridges;
  }

  /** A managed instance has state on disk, or a site's is configured: teardown must ask it. */
  private async daemonsNeeded(): Promise<boolean> {
    const s = this.ovs.settings;
    if (!s.managed) return true;
    try {
      await fs.access(`${s.dir}/conf.db`);
      return true;
    } catch {
      return false;
    }
  }

  private async removeCreated(ifname: string): Promise<void> {
    try {
      await this.ovs.vsctl(`undo create bridge "${ifname}"`, ['--if-exists', 'del-br', ifname]);
      await this.ovs.stopIfIdle();
    } catch (e: unknown) {
      this.host.warn(errorMessage(e));
    }
  }
}

/** ovsdb JSON: ["uuid", "…"]. */
function uuidOf(v: unknown): string {
  return Array.isArray(v) && v[0] === 'uuid' ? String(v[1]) : String(v);
}

/** ovsdb JSON: a set is ["set", [...]], a one-element set is the element itself. */
function setOf(v: unknown): string[] {
  if (Array.isArray(v) && v[0] === 'set' && Array.isArray(v[1])) return (v[1] as unknown[]).map(uuidOf);
  if (Array.isArray(v) && v[0] === 'uuid') return [uuidOf(v)];
  return [];
}

async function readLink(what: string, ifname: string): Promise<IpLink | undefined> {
  try {
    return await getLink(ifname);
  } catch (e: unknown) {
    throw new DriverError(`${what}: ${errorMessage(e)}`, { code: 'E_KERNEL', cause: e });
  }
}

async function deleteLink(what: string, ifname: string): Promise<void> {
  const r = await runCommand('ip', ['link', 'del', 'dev', ifname]);
  if (okOrGone(r)) return;
  throw new DriverError(`${what}: ${r.stderr.trim() || `ip exited with ${r.code}`}`, { code: 'E_KERNEL' });
}

function describeLink(link: IpLink): string {
  return link.kind ? `interface ${link.ifname} exists and is a ${link.kind} link` : `interface ${link.ifname} exists and is a plain device`;
}

function nameTaken(what: string, link: IpLink): DriverError {
  return new DriverError(`${what}: ${describeLink(link)}, not an Open vSwitch bridge`, {
    code: 'E_BRIDGE_NAME_TAKEN',
    suggestions: [`see what it is: ip -d link show ${link.ifname}`, 'remove that interface, or give the network another bridge name'],
  });
}

/**
 * An OVS port of the userspace datapath stays an ordinary interface of the host's IP stack (OVS
 * reads it through a packet socket; a Linux bridge port, by contrast, hands every frame to the
 * bridge). Left alone, the host answers a workload's ARP for the gateway on the port itself, with
 * the port's MAC, and the workload's traffic to the gateway then never reaches the bridge's
 * internal port. So: no ARP answers (arp_ignore 8) and no IPv6 on the port.
 */
async function hostStackOff(what: string, ifname: string): Promise<void> {
  const settings: [string, string][] = [[`/proc/sys/net/ipv4/conf/${ifname}/arp_ignore`, '8']];
  if (await ipv6Present()) settings.push([`/proc/sys/net/ipv6/conf/${ifname}/disable_ipv6`, '1']);
  for (const [file, value] of settings) {
    try {
      if ((await fs.readFile(file, 'utf8')).trim() !== value) await fs.writeFile(file, `${value}\n`);
    } catch (e: unknown) {
      throw new DriverError(`${what}: keep the host's IP stack off port ${ifname} (${file}): ${errorMessage(e)}`, { code: 'E_KERNEL', cause: e });
    }
  }
}

async function ipv6Present(): Promise<boolean> {
  try {
    await fs.access('/proc/sys/net/ipv6/conf');
    return true;
  } catch {
    return false;
  }
}

/** Routing between networks and to the uplink needs it (the direct driver does the same). */
async function ensureIpv4Forwarding(what: string): Promise<void> {
  const file = '/proc/sys/net/ipv4/ip_forward';
  try {
    if ((await fs.readFile(file, 'utf8')).trim() === '1') return;
    await fs.writeFile(file, '1\n');
  } catch (e: unknown) {
    throw new DriverError(`${what}: enable IPv4 forwarding: ${errorMessage(e)}`, { code: 'E_KERNEL', cause: e });
  }
}
