import { promises as fs } from 'node:fs';
import { closeFds, openTap, SyscallError, TUN_DEVICE } from '@volt/native';
import type { HostContext } from '@volt/sdk';
import type { Availability } from '@volt/sdk';
import type { VmNicDriver, VmNicHandle, VmNicSpec } from '@volt/sdk';
import { DriverError, errorMessage } from '@volt/sdk';
import { okOrGone, runCommand } from '@volt/sdk/kernel';
import { getLink, ipBatch } from '@volt/sdk/kernel';
import { checkNicSpec } from './nic-spec-check';

/**
 * TAPs made directly with /dev/net/tun (TUNSETIFF through native/), plugged
 * into the bridge with iproute2. Not persistent: the TAP lives exactly as long
 * as an fd to it is open — in QEMU, once volt has handed the fds over.
 */
export class DirectTap implements VmNicDriver {
  readonly name = 'direct-tap';
  readonly preference = 0;
  readonly fallback = true;
  readonly description = 'TAPs opened directly on /dev/net/tun (TUNSETIFF), bridged with iproute2';

  constructor(
    private readonly host: HostContext,
    private readonly device: string = TUN_DEVICE,
  ) {}

  async available(): Promise<Availability> {
    try {
      await fs.access(this.device, fs.constants.R_OK | fs.constants.W_OK);
      return { ok: true, reason: `${this.device} present` };
    } catch (e: unknown) {
      return { ok: false, reason: `${this.device}: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}` };
    }
  }

  async setupNic(spec: VmNicSpec): Promise<VmNicHandle> {
    checkNicSpec(spec);
    const what = `create TAP ${spec.ifname} for VM "${spec.vm}" NIC ${spec.nicId}`;
    const existing = await getLink(spec.ifname).catch(() => undefined);
    if (existing && existing.kind !== 'tun') {
      throw new DriverError(`${what}: interface ${spec.ifname} exists and is ${existing.kind ? `a ${existing.kind} link` : 'a plain device'}`, {
        code: 'E_LINK_EXISTS',
        suggestions: [`see what it is: ip -d link show ${spec.ifname}`],
      });
    }
    let fds: number[];
    try {
      fds = openTap({ name: spec.ifname, queues: spec.queues, vnetHdr: true, device: this.device }).fds;
    } catch (e: unknown) {
      throw tapError(what, e);
    }
    try {
      await ipBatch(what, plugLines(spec));
    } catch (e: unknown) {
      closeFds(fds);
      // Non-persistent: closing the fds removed it; a TAP that was already there (persistent) stays as found.
      throw e;
    }
    this.host.debug(`${what}: ${fds.length} queue fd(s) ${fds.join(',')}`);
    return { ifname: spec.ifname, tapFds: fds, warnings: [] };
  }

  async teardownNic(spec: VmNicSpec, handle?: VmNicHandle): Promise<void> {
    if (handle) closeFds(handle.tapFds);
    await deleteTap(`remove TAP ${spec.ifname} of VM "${spec.vm}"`, spec.ifname);
  }

  async attachNic(spec: VmNicSpec & { bridge: string }): Promise<void> {
    checkNicSpec(spec);
    await ipBatch(`plug TAP ${spec.ifname} of VM "${spec.vm}" into bridge ${spec.bridge}`, plugLines(spec));
  }

  async detachNic(spec: VmNicSpec): Promise<void> {
    const r = await runCommand('ip', ['link', 'set', 'dev', spec.ifname, 'nomaster']);
    if (okOrGone(r)) return;
    throw new DriverError(`unplug TAP ${spec.ifname} of VM "${spec.vm}": ${r.stderr.trim()}`, { code: 'E_KERNEL' });
  }
}

/** `ip -batch` lines that put a TAP on its bridge (or just up, when it has none). */
export function plugLines(spec: VmNicSpec): string[] {
  return [
    // A bridge port needs no IPv6 link-local address; without one no DAD/MLD is flooded to every port.
    `link set dev ${spec.ifname} addrgenmode none`,
    `link set dev ${spec.ifname} alias volt:vm/${spec.vm}/${spec.nicId}`, // ownership mark without state (core/src/services/leftovers.ts)
    `link set dev ${spec.ifname} mtu ${spec.mtu}`,
    spec.bridge === undefined ? `link set dev ${spec.ifname} up` : `link set dev ${spec.ifname} master ${spec.bridge} up`,
  ];
}

export async function deleteTap(what: string, ifname: string): Promise<void> {
  const r = await runCommand('ip', ['link', 'del', 'dev', ifname]);
  if (okOrGone(r)) return;
  throw new DriverError(`${what}: ${r.stderr.trim() || `ip exited with ${r.code}`}`, { code: 'E_KERNEL' });
}

/** errno → a sentence an operator can act on. */
export function tapError(what: string, e: unknown): DriverError {
  if (!(e instanceof SyscallError)) return new DriverError(`${what}: ${errorMessage(e)}`, { code: 'E_KERNEL', cause: e });
  const why: Record<string, string> = {
    ENOENT: `${TUN_DEVICE} does not exist (is the tun module loaded?)`,
    EACCES: `no permission to open ${TUN_DEVICE}`,
    EPERM: 'CAP_NET_ADMIN is needed to create a TAP',
    EBUSY: 'a TAP of that name is in use by another process (is the VM already running?)',
    EINVAL: 'an interface of that name exists with other flags (not a multi-queue vnet_hdr TAP)',
  };
  return new DriverError(`${what}: ${e.call} ${why[e.errnoName] ?? e.errnoName}`, {
    code: 'E_TAP',
    cause: e,
    suggestions: [`ip -d link show`, 'modprobe tun'],
  });
}
