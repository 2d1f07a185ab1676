import type { ContainerPortSpec } from '../drivers/bridge';
import { DriverError } from '../errors';
import { runChecked, runCommand } from './exec';
import { linkGone, okOrGone } from './link-gone';
import { isIfname, isMac } from './names';
import * as fs from 'node:fs';
import { getLink, ipBatch, netlinkWriter, type NetlinkRequest } from './ip';

/*
 * Container ports on a Linux bridge: the kernel helpers behind the bridge contract's
 * container-port methods (drivers/bridge.ts BridgeContainerPorts). Bridge drivers call them
 * (direct, networkd); core uses them for a driver that does not implement the methods.
 *
 * Two paths with the same kernel result (test/kernel/254-netlink-writes): rtnetlink requests
 * in-process when the kernel access path is the library (the default, VOLT_KERNEL_ACCESS), or
 * `ip -batch` through nsenter and a shell otherwise. The `ip` lines and the requests are built
 * side by side below, one function per step, so the two cannot drift apart unnoticed.
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
  const write = netlinkWriter();
  if (write) {
    checkSpec(step, spec);
    const vethAdd: NetlinkRequest = {
      op: 'veth-add',
      ifname: spec.hostIfname,
      mtu: spec.mtu,
      peer: { ifname: spec.ifname, mac: spec.mac, mtu: spec.mtu, netns: spec.netns },
    };
    try {
      inProcess(step, write, undefined, [vethAdd, ...hostEndRequests(spec)]);
    } catch (e: unknown) {
      const link = await getLink(spec.hostIfname).catch(() => undefined);
      if (link?.kind !== 'veth') throw e;
      inProcess(step, write, undefined, hostEndRequests(spec));
    }
    return;
  }
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

/** The requests of hostEndLines, in the same order (addrgenmode before the link comes up). */
export function hostEndRequests(spec: ContainerPortSpec): NetlinkRequest[] {
  return [
    { op: 'link-set', ifname: spec.hostIfname, addrGenModeNone: true },
    { op: 'link-set', ifname: spec.hostIfname, alias: portAlias(spec) },
    { op: 'link-set', ifname: spec.hostIfname, master: spec.bridge, up: true },
  ];
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
 * Configure the peer inside the namespace: sysctls, address, alias, up, default routes.
 *
 * The sysctls: `arp_notify` (and with IPv6 `ndisc_notify`) make the kernel announce the
 * workload's addresses when `announcePort` below re-sets its MAC. With an IPv6 address the peer
 * also stops taking router advertisements (the bridge sends them for VM guests): the container
 * keeps exactly the address volt assigned, no SLAAC address and no second default route beside
 * it. In-process, the sysctls and the requests run in the workload's namespace over rtnetlink
 * (no process); on the process path it is one nsenter: the shell writes the sysctls and then
 * becomes the `ip -batch`.
 */
export async function configureVethPeer(spec: ContainerPortSpec): Promise<void> {
  const step = `${what(spec)}: configure ${spec.ifname} inside the container`;
  checkSpec(step, spec);
  const write = netlinkWriter();
  if (write) {
    inProcess(step, write, spec.netns, [...peerSysctlRequests(spec), ...peerRequests(spec)]);
    return;
  }
  await runChecked(step, 'nsenter', [`--net=${spec.netns}`, 'sh', '-c', peerScript(spec)], {
    input: peerLines(spec).join('\n') + '\n',
  });
}

/** What announcePort needs of a container port. */
export type AnnounceSpec = Pick<ContainerPortSpec, 'netns' | 'ifname' | 'hostIfname' | 'mac'>;

/**
 * Announce a configured container port to its network: once the host end forwards on the
 * bridge, the peer re-sets its own MAC, and the kernel's "address changed" event sends a
 * gratuitous ARP and, with IPv6, an unsolicited Neighbour Advertisement with the override flag
 * for its addresses (the sysctls configureVethPeer set). Without it, a workload that takes an
 * address another one held a moment ago is unreachable from every peer that still caches the
 * old MAC as REACHABLE, for up to 45 s (reachable_time). The kernel's own announcements at link
 * up are no use: they leave before the bridge has enabled the new port (carrier reaches the
 * bridge through linkwatch, a moment later) and are dropped. Core calls this after the
 * operation's listeners, when the firewall lets the port's traffic through
 * (decisions/0011). The wait reads the port state in the host's sysfs, without a process
 * per poll; a switch that is not a Linux bridge (no brport) is not waited for.
 */
export async function announcePort(spec: AnnounceSpec): Promise<void> {
  const step = `announce ${spec.ifname} of port ${spec.hostIfname}`;
  for (const name of [spec.ifname, spec.hostIfname]) {
    if (!isIfname(name)) throw new DriverError(`${step}: ${JSON.stringify(name)} is not an interface name`, { code: 'E_KERNEL' });
  }
  if (!isMac(spec.mac)) throw new DriverError(`${step}: ${JSON.stringify(spec.mac)} is not a MAC address`, { code: 'E_KERNEL' });
  await bridgeForwards(spec.hostIfname);
  const mac = spec.mac.toLowerCase();
  const write = netlinkWriter();
  if (write) {
    inProcess(step, write, spec.netns, [{ op: 'link-set', ifname: spec.ifname, mac }]);
    return;
  }
  await runChecked(step, 'nsenter', [`--net=${spec.netns}`, 'ip', 'link', 'set', 'dev', spec.ifname, 'address', mac]);
}

function checkSpec(step: string, spec: ContainerPortSpec): void {
  for (const name of [spec.ifname, spec.hostIfname, spec.bridge]) {
    if (!isIfname(name)) throw new DriverError(`${step}: ${JSON.stringify(name)} is not an interface name`, { code: 'E_KERNEL' });
  }
  if (!isMac(spec.mac)) throw new DriverError(`${step}: ${JSON.stringify(spec.mac)} is not a MAC address`, { code: 'E_KERNEL' });
}

/** The requests of peerLines, in the same order. */
export function peerRequests(spec: ContainerPortSpec): NetlinkRequest[] {
  const dev = spec.ifname;
  const addr = (cidr: string, family: 4 | 6, nodad: boolean): NetlinkRequest => {
    const [local, len] = cidr.split('/');
    return { op: 'addr-replace', ifname: dev, family, local: local!, prefixlen: Number(len ?? (family === 4 ? 32 : 128)), ...(nodad ? { nodad } : {}) };
  };
  return [
    { op: 'link-set', ifname: 'lo', up: true },
    addr(spec.address, 4, false),
    { op: 'link-set', ifname: dev, alias: portAlias(spec) },
    ...(spec.address6 !== undefined ? [addr(spec.address6, 6, true)] : []),
    { op: 'link-set', ifname: dev, up: true },
    ...(spec.defaultGateway !== undefined ? [{ op: 'default-route', ifname: dev, family: 4, gateway: spec.defaultGateway } as const] : []),
    ...(spec.address6 !== undefined && spec.defaultGateway6 !== undefined
      ? [{ op: 'default-route', ifname: dev, family: 6, gateway: spec.defaultGateway6 } as const]
      : []),
  ];
}

/** The sysctls of peerScript as requests. */
function peerSysctlRequests(spec: Pick<ContainerPortSpec, 'ifname' | 'address6'>): NetlinkRequest[] {
  return [
    { op: 'sysctl', key: `net/ipv4/conf/${spec.ifname}/arp_notify`, value: '1' },
    ...(spec.address6 !== undefined
      ? ([
          { op: 'sysctl', key: `net/ipv6/conf/${spec.ifname}/accept_ra`, value: '0' },
          { op: 'sysctl', key: `net/ipv6/conf/${spec.ifname}/ndisc_notify`, value: '1' },
        ] as const)
      : []),
  ];
}

/** How long announcePort waits for the bridge to forward on the new port (polls of 10 ms). */
const FORWARDING_POLLS = 300;

/** Wait (polls of 10 ms, at most FORWARDING_POLLS) until the bridge forwards on the port; no brport: no wait. */
async function bridgeForwards(hostIfname: string): Promise<void> {
  const file = `/sys/class/net/${hostIfname}/brport/state`;
  for (let n = 0; n < FORWARDING_POLLS; n++) {
    let state: string;
    try {
      state = fs.readFileSync(file, 'utf8').trim();
    } catch {
      return;
    }
    if (state === '3') return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Run requests in-process; the kernel's refusal becomes the DriverError `ip` would have given. */
function inProcess(
  step: string,
  write: (nsPath: string | undefined, requests: readonly NetlinkRequest[]) => void,
  nsPath: string | undefined,
  requests: readonly NetlinkRequest[],
): void {
  try {
    write(nsPath, requests);
  } catch (e: unknown) {
    throw new DriverError(`${step}: ${e instanceof Error ? e.message : String(e)}`, { code: 'E_KERNEL' });
  }
}

/**
 * The shell program of configureVethPeer (stdin: the `ip -batch` lines): the sysctls that make
 * the kernel announce (the same as peerSysctlRequests), then the batch. Names are checked by
 * the caller.
 */
export function peerScript(spec: Pick<ContainerPortSpec, 'ifname' | 'address6'>): string {
  const v4 = `/proc/sys/net/ipv4/conf/${spec.ifname}`;
  const v6 = `/proc/sys/net/ipv6/conf/${spec.ifname}`;
  return [
    `{ [ -d ${v4} ] || { echo 'Cannot find device "${spec.ifname}"' >&2; exit 1; }; }`,
    `echo 1 > ${v4}/arp_notify`,
    ...(spec.address6 !== undefined ? [`echo 0 > ${v6}/accept_ra`, `echo 1 > ${v6}/ndisc_notify`] : []),
    'exec ip -batch -',
  ].join(' && ');
}

/** Deleting the host end removes both ends; a pair that is already gone is success. */
export async function teardownVethPort(spec: Pick<ContainerPortSpec, 'hostIfname'>): Promise<void> {
  const write = netlinkWriter();
  if (write) {
    try {
      write(undefined, [{ op: 'link-del', ifname: spec.hostIfname }]);
    } catch (e: unknown) {
      const message = e instanceof Error ? e.message : String(e);
      if (!linkGone(message)) throw new DriverError(`remove veth ${spec.hostIfname}: ${message}`, { code: 'E_KERNEL' });
    }
    return;
  }
  const r = await runCommand('ip', ['link', 'del', 'dev', spec.hostIfname]);
  if (!okOrGone(r)) {
    throw new DriverError(`remove veth ${spec.hostIfname}: ${r.stderr.trim() || `ip exited with ${r.code}`}`, { code: 'E_KERNEL' });
  }
}

/** @deprecated use linkGone (link-gone.ts), the one place that knows iproute2's words for "gone". */
export const isLinkGone: (stderr: string) => boolean = linkGone;

/*
 * Batches (`volt net connect NET W1 … WN`, Compose up): the same kernel work as the calls above
 * for N ports, each failure naming its port. In-process (the library path) every port is its
 * requests, no process at all; on the
 * process path one `ip -batch` makes every pair and host end, and the peers are configured by
 * a few small shells (one nsenter per namespace: ip cannot change namespace inside a batch).
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

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * setupVethPort for every spec. In-process: each port's requests in turn. Process path: one
 * `ip -batch` for all; ip stops at the first failing line ("Command failed -:LINE"): when that
 * is a pair whose host end exists already as a veth (a set-up run again), its host-end
 * settings are converged and the batch goes on after it, as setupVethPort does; any other
 * failure is a ContainerPortBatchError naming the port.
 */
export async function setupVethPorts(specs: readonly ContainerPortSpec[]): Promise<void> {
  if (netlinkWriter()) {
    for (const [i, spec] of specs.entries()) {
      try {
        await setupVethPort(spec);
      } catch (e: unknown) {
        throw new ContainerPortBatchError(messageOf(e), i);
      }
    }
    return;
  }
  let from = 0;
  while (from < specs.length) {
    const lines: string[] = [];
    const owner: { index: number; add: boolean }[] = [];
    for (let i = from; i < specs.length; i++) {
      const s = specs[i]!;
      checkSpec(`${what(s)}: create veth ${s.hostIfname}`, s);
      lines.push(`link add name ${s.hostIfname} mtu ${s.mtu} type veth peer name ${s.ifname} address ${s.mac} mtu ${s.mtu} netns ${s.netns}`);
      owner.push({ index: i, add: true });
      for (const l of hostEndLines(s)) {
        lines.push(l);
        owner.push({ index: i, add: false });
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
      throw new ContainerPortBatchError(messageOf(e), failed);
    }
    from = failed + 1;
  }
}

/** A word for sh, single-quoted. */
function shWord(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The sh script that configures the peers of `specs` one after the other, each exactly as
 * configureVethPeer's process path does (one nsenter running peerScript, its `ip -batch` lines
 * in a here-document). It stops at the first failure, whose output has just gone to stderr,
 * and ends stderr with "volt-peer-failed INDEX".
 */
function peersScript(specs: readonly { spec: ContainerPortSpec; index: number }[]): string {
  const out: string[] = [];
  for (const { spec, index } of specs) {
    // No line of peerLines is "VOLT_PEER_END": each starts with an ip object (link, addr, route).
    out.push(
      `nsenter --net=${shWord(spec.netns)} sh -c ${shWord(peerScript(spec))} <<'VOLT_PEER_END' || { echo 'volt-peer-failed ${index}' >&2; exit 1; }`,
      ...peerLines(spec),
      'VOLT_PEER_END',
    );
  }
  return out.join('\n') + '\n';
}

/**
 * configureVethPeer for every spec (the announcement is core's last attachment listener, as for
 * one). In-process: every peer's sysctls and requests. Process path: `parallel` small sh processes, each taking every `parallel`-th spec,
 * rather than one spawn from node per namespace (a spawn from node costs a fork of its whole
 * address space). The first failure (lowest position) is a ContainerPortBatchError.
 */
export async function configureVethPeers(specs: readonly ContainerPortSpec[], parallel = 4): Promise<void> {
  if (specs.length === 0) return;
  for (const [i, spec] of specs.entries()) {
    try {
      checkSpec(`${what(spec)}: configure ${spec.ifname} inside the container`, spec);
    } catch (e: unknown) {
      throw new ContainerPortBatchError(messageOf(e), i);
    }
  }
  const write = netlinkWriter();
  if (write) {
    const each = (i: number, requests: (s: ContainerPortSpec) => NetlinkRequest[]): void => {
      const spec = specs[i]!;
      try {
        inProcess(`${what(spec)}: configure ${spec.ifname} inside the container`, write, spec.netns, requests(spec));
      } catch (e: unknown) {
        throw new ContainerPortBatchError(messageOf(e), i);
      }
    };
    for (let i = 0; i < specs.length; i++) each(i, (s) => [...peerSysctlRequests(s), ...peerRequests(s)]);
    return;
  }
  const workers = Math.max(1, Math.min(parallel, specs.length));
  const stripes = Array.from({ length: workers }, (_, w) => specs.flatMap((spec, index) => (index % workers === w ? [{ spec, index }] : [])));
  const results = await Promise.all(stripes.map((stripe) => runCommand('sh', ['-s'], { input: peersScript(stripe) })));
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

/** teardownVethPort for every spec (in-process, or one `ip -force -batch`); pairs already gone are success. */
export async function teardownVethPorts(specs: readonly Pick<ContainerPortSpec, 'hostIfname'>[]): Promise<void> {
  if (specs.length === 0) return;
  if (netlinkWriter()) {
    const failures: string[] = [];
    for (const s of specs) {
      try {
        await teardownVethPort(s);
      } catch (e: unknown) {
        failures.push(messageOf(e));
      }
    }
    if (failures.length > 0) throw new DriverError(failures.join('; '), { code: 'E_KERNEL' });
    return;
  }
  const r = await runCommand('ip', ['-force', '-batch', '-'], { input: specs.map((s) => `link del dev ${s.hostIfname}`).join('\n') + '\n' });
  if (r.code === 0) return;
  const other = r.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^Command failed -:\d+$/.test(l) && !linkGone(l));
  if (other.length > 0) throw new DriverError(`remove veth ${specs.map((s) => s.hostIfname).join(', ')}: ${other.join('; ')}`, { code: 'E_KERNEL' });
}
