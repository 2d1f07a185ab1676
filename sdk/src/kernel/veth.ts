import type { ContainerPortSpec } from '../drivers/bridge';
import { DriverError } from '../errors';
import { runChecked, runCommand } from './exec';
import { getLink, ipBatch, netlinkPeerWriter } from './ip';
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
    await ipBatch(step, [linkAddLine(spec), ...hostEndLines(spec)]);
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

/*
 * Batches (`volt net connect NET W1 … WN`): the same kernel work as the calls above for N
 * ports, with as few processes as iproute2 allows — one `ip -batch` for every host end, and
 * one process per namespace for the peers (ip cannot change namespace inside a batch).
 */

/** A batch call that failed at one port: `index` is its position in the batch (0-based). */
export class ContainerPortBatchError extends DriverError {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message, { code: 'E_KERNEL' });
  }
}

/** The position of the port a batch error names, when it names one (duck-typed: plugins bundle their own SDK). */
export function batchErrorIndex(e: unknown): number | undefined {
  const i = (e as { index?: unknown } | undefined)?.index;
  return typeof i === 'number' && Number.isInteger(i) && i >= 0 ? i : undefined;
}

function linkAddLine(spec: ContainerPortSpec): string {
  return `link add name ${spec.hostIfname} mtu ${spec.mtu} type veth peer name ${spec.ifname} address ${spec.mac} mtu ${spec.mtu} netns ${spec.netns}`;
}

/**
 * setupVethPort for every spec in one `ip -batch`: all pairs created (peers straight into their
 * namespaces), all host ends on the bridge. ip stops at the first failing line ("Command failed
 * -:LINE"): when that is a pair whose host end exists already as a veth (a set-up run again),
 * its host-end settings are converged and the batch goes on after it, as setupVethPort does;
 * any other failure is a ContainerPortBatchError naming the port.
 */
export async function setupVethPorts(specs: readonly ContainerPortSpec[]): Promise<void> {
  let from = 0;
  while (from < specs.length) {
    const part = specs.slice(from);
    const lines: string[] = [];
    const owner: { index: number; add: boolean }[] = [];
    for (const [i, s] of part.entries()) {
      lines.push(linkAddLine(s));
      owner.push({ index: from + i, add: true });
      for (const l of hostEndLines(s)) {
        lines.push(l);
        owner.push({ index: from + i, add: false });
      }
    }
    const r = await runCommand('ip', ['-batch', '-'], { input: lines.join('\n') + '\n' });
    if (r.code === 0) return;
    const m = /Command failed -:(\d+)/.exec(r.stderr);
    const at = m ? owner[Number(m[1]) - 1] : undefined;
    const failed = at?.index ?? from;
    const spec = specs[failed]!;
    const step = `${what(spec)}: create veth ${spec.hostIfname}`;
    const reason = r.stderr.replace(/Command failed -:\d+\s*/g, '').trim() || `ip exited with ${r.code}`;
    if (!at?.add) throw new ContainerPortBatchError(`${step}: ${reason}`, failed);
    const link = await getLink(spec.hostIfname).catch(() => undefined);
    if (link?.kind !== 'veth') throw new ContainerPortBatchError(`${step}: ${reason}`, failed);
    try {
      await ipBatch(step, hostEndLines(spec));
    } catch (e: unknown) {
      throw new ContainerPortBatchError(e instanceof Error ? e.message : String(e), failed);
    }
    from = failed + 1;
  }
}

/** The peer as the netlink writer takes it; undefined when the address is not plain a.b.c.d/len. */
function netlinkPeer(spec: ContainerPortSpec): { ifname: string; address: string; prefixlen: number; alias: string; gateway?: string } | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(spec.address);
  if (!m || Number(m[2]) > 32) return undefined;
  return { ifname: spec.ifname, address: m[1]!, prefixlen: Number(m[2]), alias: portAlias(spec), ...(spec.defaultGateway !== undefined ? { gateway: spec.defaultGateway } : {}) };
}

/** A word for sh, single-quoted. */
function shWord(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The sh script that configures the peers of `specs` one after the other, each exactly as
 * configureVethPeer does (one nsenter + ip -batch per namespace, its lines in a here-document;
 * the accept_ra sysctl first for IPv6): one fork of a small shell per namespace, nothing else.
 * It stops at the first failure, whose output ip has just written to stderr, and ends stderr
 * with "volt-peer-failed INDEX".
 */
function peerScript(specs: readonly { spec: ContainerPortSpec; index: number }[]): string {
  const out: string[] = [];
  const failed = (index: number): string => `{ echo 'volt-peer-failed ${index}' >&2; exit 1; }`;
  for (const { spec, index } of specs) {
    if (spec.address6 !== undefined && !/^[A-Za-z0-9_.-]{1,15}$/.test(spec.ifname)) {
      out.push(`echo ${shWord(`${JSON.stringify(spec.ifname)} is not an interface name`)} >&2; ${failed(index)}`);
      break;
    }
    const ip =
      spec.address6 === undefined
        ? `nsenter --net=${shWord(spec.netns)} ip -batch -`
        : `nsenter --net=${shWord(spec.netns)} sh -c ${shWord(`echo 0 > /proc/sys/net/ipv6/conf/${spec.ifname}/accept_ra && exec ip -batch -`)}`;
    // No line of peerLines is "VOLT_PEER_END": each starts with an ip object (link, addr, route).
    out.push(`${ip} <<'VOLT_PEER_END' || ${failed(index)}`, ...peerLines(spec), 'VOLT_PEER_END');
  }
  return out.join('\n') + '\n';
}

/**
 * configureVethPeer for every spec: still one nsenter + ip per namespace (ip cannot change
 * namespace inside a batch), but started by `parallel` small sh processes, each taking every
 * `parallel`-th spec, rather than by node (a spawn from node costs a fork of its whole address
 * space: most of a batch's time before this). The first failure (lowest position) is thrown as
 * a ContainerPortBatchError once the shells end; a shell stops at its first failure.
 */
export async function configureVethPeers(specs: readonly ContainerPortSpec[], parallel = 4): Promise<void> {
  if (specs.length === 0) return;
  // In-process where it can be (an IPv4-only peer, the netlink library loaded): no process at all.
  const writer = netlinkPeerWriter();
  const rest: { spec: ContainerPortSpec; index: number }[] = [];
  for (const [index, spec] of specs.entries()) {
    const peer = writer && spec.address6 === undefined ? netlinkPeer(spec) : undefined;
    if (!peer) {
      rest.push({ spec, index });
      continue;
    }
    try {
      writer!(spec.netns, peer);
    } catch (e: unknown) {
      throw new ContainerPortBatchError(`${what(spec)}: configure ${spec.ifname} inside the container: ${e instanceof Error ? e.message : String(e)}`, index);
    }
  }
  if (rest.length === 0) return;
  const workers = Math.max(1, Math.min(parallel, rest.length));
  const stripes = Array.from({ length: workers }, (_, w) => rest.filter((_x, i) => i % workers === w));
  const results = await Promise.all(stripes.map((stripe) => runCommand('sh', ['-s'], { input: peerScript(stripe) })));
  const failures: { index: number; message: string }[] = [];
  for (const [w, r] of results.entries()) {
    if (r.code === 0) continue;
    const m = /^([\s\S]*?)volt-peer-failed (\d+)\s*$/.exec(r.stderr);
    const index = m ? Number(m[2]) : stripes[w]![0]!.index;
    const spec = specs[index]!;
    const why = (m ? m[1]! : r.stderr).trim().split('\n').filter((l) => !/^Command failed -:\d+$/.test(l.trim())).slice(0, 3).join('; ') || `sh exited with ${r.code}`;
    failures.push({ index, message: `${what(spec)}: configure ${spec.ifname} inside the container: ${why}` });
  }
  const first = failures.sort((x, y) => x.index - y.index)[0];
  if (first) throw new ContainerPortBatchError(first.message, first.index);
}

/** teardownVethPort for every spec in one `ip -force -batch`; pairs already gone are success. */
export async function teardownVethPorts(specs: readonly Pick<ContainerPortSpec, 'hostIfname'>[]): Promise<void> {
  if (specs.length === 0) return;
  const r = await runCommand('ip', ['-force', '-batch', '-'], { input: specs.map((s) => `link del dev ${s.hostIfname}`).join('\n') + '\n' });
  if (r.code === 0) return;
  const other = r.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^Command failed -:\d+$/.test(l) && !isLinkGone(l));
  if (other.length > 0) throw new DriverError(`remove veth ${specs.map((s) => s.hostIfname).join(', ')}: ${other.join('; ')}`, { code: 'E_KERNEL' });
}
