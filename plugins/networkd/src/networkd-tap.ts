import * as path from 'node:path';
import { closeFds, openTap, SyscallError } from '@volt/native';
import type { HostContext } from '@volt/sdk';
import type { Availability } from '@volt/sdk';
import { E_NIC_UNAVAILABLE, type VmNicDriver, type VmNicHandle, type VmNicSpec } from '@volt/sdk';
import { DriverError, errorMessage } from '@volt/sdk';
import { linkGone, okOrGone, runCommand } from '@volt/sdk/kernel';
import { getLink, isIfname, type IpLink } from '@volt/sdk/kernel';
import { networkctl } from './networkctl';
import { NetworkdBridge } from './networkd-bridge';
import { removeUnits, restoreUnits, writeChangedUnits } from './unit-files';
import { renderTapUnits, tapUnitNames } from './units';

export interface NetworkdTapOptions {
  /** How long one attempt waits for networkd to create and plug the TAP (default 3 s). */
  timeoutMs?: number;
  /** Attempts (reload + wait) before giving up (default 3); the pause between them doubles from 200 ms. */
  attempts?: number;
  pollMs?: number;
}

/**
 * VM TAPs declared to systemd-networkd (the design's per-VM template in
 * <root>/run/systemd/network): volt writes the units, reloads, waits
 * (bounded, with retries) until networkd has created the TAP and plugged it
 * into the bridge, then opens it by name with TUNSETIFF to get one fd per
 * queue. networkd's TAPs are persistent, so teardown removes the units and
 * the link. When networkd does not deliver, the error carries
 * E_NIC_UNAVAILABLE and core falls back to the direct driver.
 */
export class NetworkdTap implements VmNicDriver {
  readonly name = 'networkd';
  readonly preference = 10;
  readonly fallback = false;
  readonly description = 'VM TAPs as systemd-networkd units (.netdev/.network in /run/systemd/network)';

  constructor(
    private readonly host: HostContext,
    private readonly options: NetworkdTapOptions = {},
  ) {}

  available(): Promise<Availability> {
    return new NetworkdBridge(this.host).available();
  }

  private get dir(): string {
    return this.host.paths.networkdRunDir;
  }

  async setupNic(spec: VmNicSpec): Promise<VmNicHandle> {
    checkTapSpec(spec);
    const what = `create TAP ${spec.ifname} for VM "${spec.vm}" NIC ${spec.nicId} through systemd-networkd`;
    const units = renderTapUnits(spec);
    const files = [units.netdev, units.network].map((u) => path.join(this.dir, u.name));
    const previous = await writeChangedUnits(this.dir, [units.netdev, units.network]);
    const attempts = Math.max(1, this.options.attempts ?? 3);
    const timeoutMs = this.options.timeoutMs ?? 3000;
    const failures: string[] = [];
    let link: IpLink | undefined;
    for (let i = 0; i < attempts && !link; i++) {
      if (i > 0) await sleep(200 * 2 ** (i - 1));
      try {
        await networkctl(what, ['reload']);
        link = await this.waitFor(spec, timeoutMs);
        if (!link) failures.push(`attempt ${i + 1}: no TAP after ${timeoutMs} ms`);
      } catch (e: unknown) {
        failures.push(`attempt ${i + 1}: ${errorMessage(e)}`);
      }
    }
    if (!link) {
      await restoreUnits(previous);
      await this.reloadQuietly(what);
      throw new DriverError(`${what}: networkd did not provide it (${failures.join('; ')}); units removed: ${files.join(', ')}`, {
        code: E_NIC_UNAVAILABLE,
        suggestions: ['networkctl status', 'journalctl -u systemd-networkd'],
      });
    }
    let fds: number[];
    try {
      fds = openTap({ name: spec.ifname, queues: spec.queues, vnetHdr: true, multiQueue: true }).fds;
    } catch (e: unknown) {
      await this.teardownNic(spec).catch(() => undefined);
      const why =
        e instanceof SyscallError && e.errnoName === 'EINVAL'
          ? 'the existing TAP has other flags than multi_queue vnet_hdr (an old unit?)'
          : e instanceof SyscallError && e.errnoName === 'EBUSY'
            ? 'the TAP is in use (is the VM already running?)'
            : errorMessage(e);
      throw new DriverError(`${what}: open it: ${why}`, { code: 'E_TAP', cause: e });
    }
    const warnings = failures.length > 0 ? [`${what}: needed ${failures.length + 1} attempts (${failures.join('; ')})`] : [];
    this.host.debug(`${what}: ${fds.length} queue fd(s)`);
    return { ifname: spec.ifname, tapFds: fds, warnings };
  }

  async teardownNic(spec: VmNicSpec, handle?: VmNicHandle): Promise<void> {
    const what = `remove TAP ${spec.ifname} of VM "${spec.vm}"`;
    if (handle) closeFds(handle.tapFds);
    const names = tapUnitNames(spec.vmUuid, spec.nicId);
    const removed = await removeUnits(this.dir, [names.netdev, names.network]);
    if (removed.length > 0) await this.reloadQuietly(what);
    // networkd's TAPs are persistent and networkd never deletes a netdev whose unit went away.
    const r = await runCommand('ip', ['link', 'del', 'dev', spec.ifname]);
    if (okOrGone(r)) return;
    throw new DriverError(`${what}: ${r.stderr.trim()}`, { code: 'E_KERNEL' });
  }

  async attachNic(spec: VmNicSpec & { bridge: string }): Promise<void> {
    await this.replug(spec, `plug TAP ${spec.ifname} of VM "${spec.vm}" into bridge ${spec.bridge}`);
  }

  async detachNic(spec: VmNicSpec): Promise<void> {
    await this.replug({ ...spec, bridge: undefined }, `unplug TAP ${spec.ifname} of VM "${spec.vm}"`);
  }

  /** Rewrite the TAP's .network for its new bridge (or none), reload, and make the kernel agree now. */
  private async replug(spec: VmNicSpec, what: string): Promise<void> {
    checkTapSpec(spec);
    const units = renderTapUnits(spec);
    await writeChangedUnits(this.dir, [units.network]);
    await this.reloadQuietly(what);
    // networkd does not move an already configured port on reload; do it, the unit now says the same.
    const args = spec.bridge === undefined ? ['link', 'set', 'dev', spec.ifname, 'nomaster'] : ['link', 'set', 'dev', spec.ifname, 'master', spec.bridge, 'up'];
    const r = await runCommand('ip', args);
    if (r.code !== 0 && !(spec.bridge === undefined && linkGone(r.stderr))) {
      throw new DriverError(`${what}: ${r.stderr.trim()}`, { code: 'E_KERNEL' });
    }
  }

  private async waitFor(spec: VmNicSpec, timeoutMs: number): Promise<IpLink | undefined> {
    const pollMs = this.options.pollMs ?? 25;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const link = await getLink(spec.ifname).catch(() => undefined);
      if (link && link.kind === 'tun' && (spec.bridge === undefined || link.master === spec.bridge) && link.mtu === spec.mtu) return link;
      if (Date.now() >= deadline) return undefined;
      await sleep(pollMs);
    }
  }

  private async reloadQuietly(what: string): Promise<void> {
    try {
      await networkctl(what, ['reload']);
    } catch (e: unknown) {
      this.host.warn(errorMessage(e));
    }
  }
}

function checkTapSpec(spec: VmNicSpec): void {
  const ok =
    isIfname(spec.ifname) &&
    (spec.bridge === undefined || isIfname(spec.bridge)) &&
    /^[0-9a-f-]{36}$/.test(spec.vmUuid) &&
    /^[A-Za-z][A-Za-z0-9_-]{0,14}$/.test(spec.nicId) &&
    !/[\u0000-\u001f\u007f]/.test(spec.vm) &&
    Number.isInteger(spec.mtu) &&
    spec.mtu >= 68 &&
    spec.mtu <= 65535 &&
    Number.isInteger(spec.queues) &&
    spec.queues >= 1;
  if (!ok) throw new DriverError(`set up NIC ${JSON.stringify(spec.nicId)} of VM ${JSON.stringify(spec.vm)}: malformed NIC spec`, { code: 'E_NIC_SPEC' });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
