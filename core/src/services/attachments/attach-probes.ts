import { token } from '@volt/sdk';
import { runCommand } from '@volt/sdk/kernel';
import { fdbKnows, fdbMacs, linkKindOf, linkNamesIn, linksOfMaster, listRoutes4, type IpRoute } from '@volt/sdk/kernel';
import { nsAlive, nspawnLeader } from '../../kernel/netns';

/**
 * The kernel reads the attachment and network services make (they change nothing), behind
 * one injected interface so the services can be unit-tested with fakes. The default
 * implementation reads the kernel of the namespace volt runs in.
 */
export interface KernelProbes {
  /** Is this path a live network namespace? */
  nsAlive(path: string): boolean;
  /** The leader PID of a running systemd-nspawn machine; undefined if there is none. */
  nspawnLeader(machine: string): Promise<number | undefined>;
  /** Interface names inside a namespace (empty when it cannot be read). */
  linkNamesIn(netns: string): Promise<string[]>;
  /** The kind of a host link ("bridge", "veth"…), "" for a plain device, undefined if there is no such link. */
  linkKind(ifname: string): Promise<string | undefined>;
  /** Does the bridge's forwarding database know this MAC (learned behind a port, or a port's own)? */
  macOnBridge(bridge: string, mac: string): Promise<boolean>;
  /**
   * Every MAC the bridge's fdb knows, read once (a batch connect checks many MACs); undefined
   * when that cannot be read in one go (then macOnBridge is asked per MAC).
   */
  bridgeMacs?(bridge: string): Promise<Set<string> | undefined>;
  /** The host's IPv4 routes of the main table (subnet collision checks). */
  hostRoutes(): Promise<IpRoute[]>;
  /** The host's own IPv4 addresses (a destination among them is "the host"). */
  hostAddresses(): Promise<string[]>;
}

export const KernelProbes = token<KernelProbes>('volt.kernel-probes');

/** The real kernel. */
export const kernelProbes: KernelProbes = {
  nsAlive,
  nspawnLeader,
  async linkNamesIn(netns: string): Promise<string[]> {
    return (await linkNamesIn(netns)) ?? [];
  },
  linkKind: linkKindOf,
  macOnBridge,
  bridgeMacs: async (bridge) => fdbMacs(bridge),
  hostRoutes: listRoutes4,
  async hostAddresses(): Promise<string[]> {
    return (await import('../firewall/firewall-service')).hostAddresses();
  },
};

async function macOnBridge(bridge: string, mac: string): Promise<boolean> {
  const known = fdbKnows(bridge, mac);
  if (known !== undefined) return known;
  const r = await runCommand('bridge', ['fdb', 'get', mac, 'br', bridge]);
  if (r.code === 0) return true;
  if (/not found/i.test(r.stderr)) return false;
  // An iproute2 without `fdb get`, or a bridge that is gone: look through the bridge's ports the long way.
  const ports = await linksOfMaster(bridge);
  if (ports.length === 0) return false;
  const all = await runCommand('bridge', ['-j', 'fdb', 'show', 'br', bridge]);
  if (all.code !== 0) return false;
  try {
    return (JSON.parse(all.stdout) as { mac?: string; ifname?: string }[]).some((e) => e.mac === mac && e.ifname !== undefined && ports.includes(e.ifname));
  } catch {
    return false; // an unreadable fdb only weakens the collision check
  }
}
