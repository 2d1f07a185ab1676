import type { ContainerPortSpec } from '../drivers/bridge';
import { DriverError } from '../errors';
import { runChecked, runCommand } from './exec';
import { getLink, ipBatch } from './ip';
import { ipBatchIn } from './netns';

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
 * Configure the peer inside the namespace. With an IPv6 address the peer first stops taking
 * router advertisements (the bridge sends them for VM guests): the container keeps exactly the
 * address volt assigned, no SLAAC address and no second default route beside it.
 */
export async function configureVethPeer(spec: ContainerPortSpec): Promise<void> {
  const step = `${what(spec)}: configure ${spec.ifname} inside the container`;
  if (spec.address6 === undefined) {
    await ipBatchIn(spec.netns, step, peerLines(spec));
    return;
  }
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(spec.ifname)) throw new DriverError(`${step}: ${JSON.stringify(spec.ifname)} is not an interface name`, { code: 'E_KERNEL' });
  // One process as without IPv6: the sysctl is written by the shell nsenter starts, which then becomes ip.
  await runChecked(step, 'nsenter', [`--net=${spec.netns}`, 'sh', '-c', `echo 0 > /proc/sys/net/ipv6/conf/${spec.ifname}/accept_ra && exec ip -batch -`], {
    input: peerLines(spec).join('\n') + '\n',
  });
}

/** Deleting the host end removes both ends; a pair that is already gone is success. */
export async function teardownVethPort(spec: Pick<ContainerPortSpec, 'hostIfname'>): Promise<void> {
  const r = await runCommand('ip', ['link', 'del', 'dev', spec.hostIfname]);
  if (r.code !== 0 && !isLinkGone(r.stderr)) {
    throw new DriverError(`remove veth ${spec.hostIfname}: ${r.stderr.trim() || `ip exited with ${r.code}`}`, { code: 'E_KERNEL' });
  }
}

/** iproute2's words for "no such link" (the link is already gone). */
export function isLinkGone(stderr: string): boolean {
  return /Cannot find device|does not exist/i.test(stderr);
}
