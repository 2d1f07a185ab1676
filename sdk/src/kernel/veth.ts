import type { ContainerPortSpec } from '../drivers/bridge';
import { DriverError } from '../errors';
import { runChecked, runCommand } from './exec';
import { linkGone, okOrGone } from './link-gone';
import { isIfname, isMac } from './names';
import { getLink, ipBatch } from './ip';

/*
 * Container ports on a Linux bridge with iproute2: the kernel helpers behind the bridge
 * contract's container-port methods (drivers/bridge.ts BridgeContainerPorts). Bridge drivers
 * call them (direct, networkd); core uses them for a driver that does not implement the methods.
 */

/** The ownership mark on both ends of a container's veth (leftovers.ts reads it). */
export function portAlias(spec: Pick<ContainerPortSpec, 'network' | 'workload'>): string {
  return `volt:${spec.network}/${spec.workload}`;
}

function what(spec: Pick<ContainerPortSpec, 'network' | 'workload'>): string {
  return `connect "${spec.workload}" to "${spec.network}"`;
}

/** `ip -batch` lines for the host end once it exists: no link-local, alias, on the bridge, up. */
export function hostEndLines(spec: ContainerPortSpec): string[] {
  return [
    // No IPv6 link-local on the host end: DAD/MLD flooded to every port is what makes big bridges slow.
    `link set dev ${spec.hostIfname} addrgenmode none`,
    `link set dev ${spec.hostIfname} alias ${portAlias(spec)}`,
    `link set dev ${spec.hostIfname} master ${spec.bridge} up`,
  ];
}

/**
 * Create the pair with the peer directly inside the namespace (so its name never collides on
 * the host) and put the host end on the bridge: one `ip -batch`. When the host end already
 * exists as a veth (a set-up run again), only the host-end settings are converged.
 */
export async function setupVethPort(spec: ContainerPortSpec): Promise<void> {
  const step = `${what(spec)}: create veth ${spec.hostIfname}`;
  try {
    await ipBatch(step, [
      `link add name ${spec.hostIfname} mtu ${spec.mtu} type veth peer name ${spec.ifname} address ${spec.mac} mtu ${spec.mtu} netns ${spec.netns}`,
      ...hostEndLines(spec),
    ]);
  } catch (e: unknown) {
    // Only on failure: is it there already (idempotent set-up), and a veth?
    const link = await getLink(spec.hostIfname).catch(() => undefined);
    if (link?.kind !== 'veth') throw e;
    await ipBatch(step, hostEndLines(spec));
  }
}

/** `ip -batch` lines inside the namespace: address, alias, up, default route (all idempotent). */
export function peerLines(spec: ContainerPortSpec): string[] {
  return [
    'link set dev lo up',
    `addr replace ${spec.address} dev ${spec.ifname}`,
    `link set dev ${spec.ifname} alias ${portAlias(spec)}`,
    ...(spec.address6 !== undefined ? [`addr replace ${spec.address6} dev ${spec.ifname} nodad`] : []),
    `link set dev ${spec.ifname} up`,
    ...(spec.defaultGateway !== undefined ? [`route replace default via ${spec.defaultGateway} dev ${spec.ifname}`] : []),
    ...(spec.address6 !== undefined && spec.defaultGateway6 !== undefined ? [`route replace ::/0 via ${spec.defaultGateway6} dev ${spec.ifname}`] : []),
  ];
}

/**
 * Configure the peer inside the namespace, then announce it.
 *
 * The announcement: a workload that takes an address another one held a moment ago is
 * otherwise unreachable from every peer that still caches the old MAC as REACHABLE, for up to
 * 45 s (reachable_time), before the kernel asks again. So once the host end forwards on the
 * bridge, the peer re-sets its own MAC: the kernel's "address changed" event sends a
 * gratuitous ARP (arp_notify) and, with IPv6, an unsolicited Neighbour Advertisement with the
 * override flag (ndisc_notify) for its addresses, and peers' caches follow at once. The
 * announcements the kernel makes when the link comes up are no use here: they leave before
 * the bridge has enabled the new port (carrier reaches the bridge through linkwatch, later),
 * and are dropped. The wait reads the port state in the host's sysfs (nsenter changes only
 * the network namespace), without a process per poll; a switch that is not a Linux bridge
 * (no brport) is not waited for.
 *
 * With an IPv6 address the peer also stops taking router advertisements (the bridge sends
 * them for VM guests): the container keeps exactly the address volt assigned, no SLAAC
 * address and no second default route beside it. All of it is one nsenter: the shell writes
 * the sysctls, runs the `ip -batch`, waits, and then becomes the `ip` that announces.
 */
export async function configureVethPeer(spec: ContainerPortSpec): Promise<void> {
  const step = `${what(spec)}: configure ${spec.ifname} inside the container`;
  for (const name of [spec.ifname, spec.hostIfname]) {
    if (!isIfname(name)) throw new DriverError(`${step}: ${JSON.stringify(name)} is not an interface name`, { code: 'E_KERNEL' });
  }
  if (!isMac(spec.mac)) throw new DriverError(`${step}: ${JSON.stringify(spec.mac)} is not a MAC address`, { code: 'E_KERNEL' });
  await runChecked(step, 'nsenter', [`--net=${spec.netns}`, 'sh', '-c', peerScript(spec)], {
    input: peerLines(spec).join('\n') + '\n',
  });
}

/** How long the announcement waits for the bridge to forward on the new port (polls of 10 ms). */
const FORWARDING_POLLS = 300;

/**
 * The shell program of configureVethPeer (stdin: the `ip -batch` lines): the sysctls that make
 * the kernel announce, the batch, the wait for the bridge port to forward (brport state 3),
 * and the announcement. Names and MAC are checked by the caller.
 */
export function peerScript(spec: Pick<ContainerPortSpec, 'ifname' | 'hostIfname' | 'mac' | 'address6'>): string {
  const v4 = `/proc/sys/net/ipv4/conf/${spec.ifname}`;
  const v6 = `/proc/sys/net/ipv6/conf/${spec.ifname}`;
  const port = `/sys/class/net/${spec.hostIfname}/brport`;
  return [
    `echo 1 > ${v4}/arp_notify`,
    ...(spec.address6 !== undefined ? [`echo 0 > ${v6}/accept_ra`, `echo 1 > ${v6}/ndisc_notify`] : []),
    'ip -batch -',
    `{ n=0; while [ -e ${port} ] && read s < ${port}/state && [ "$s" != 3 ] && [ $n -lt ${FORWARDING_POLLS} ]; do sleep 0.01; n=$((n+1)); done; }`,
    `exec ip link set dev ${spec.ifname} address ${spec.mac.toLowerCase()}`,
  ].join(' && ');
}

/** Deleting the host end removes both ends; a pair that is already gone is success. */
export async function teardownVethPort(spec: Pick<ContainerPortSpec, 'hostIfname'>): Promise<void> {
  const r = await runCommand('ip', ['link', 'del', 'dev', spec.hostIfname]);
  if (!okOrGone(r)) {
    throw new DriverError(`remove veth ${spec.hostIfname}: ${r.stderr.trim() || `ip exited with ${r.code}`}`, { code: 'E_KERNEL' });
  }
}

/** @deprecated use linkGone (link-gone.ts), the one place that knows iproute2's words for "gone". */
export const isLinkGone: (stderr: string) => boolean = linkGone;
