import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { HostContext } from '@volt/sdk';
import type { VlanObservation, VlanSpec } from '@volt/sdk';
import type { Availability } from '@volt/sdk';
import { DriverError, errorMessage } from '@volt/sdk';
import { okOrGone, runCommand } from '@volt/sdk/kernel';
import { assertSameVlan, checkVlanSpec, describeLink, listVlanLinks, observeVlans, parentMissing, probe8021q, readLinks, vlanUnsupported } from '@volt/sdk/kernel';
import { networkctl, networkdLinkState, type NetworkdLinkState } from './networkctl';
import { removeUnits, restoreUnits, writeChangedUnits, type PreviousUnit } from './unit-files';
import { renderVlanUnits, vlanDropinFile, vlanUnitNames } from './vlan-units';

export interface NetworkdVlanOptions {
  /** How long set-up waits for networkd to create and configure the VLAN (default 10 s). */
  timeoutMs?: number;
  pollMs?: number;
}

/**
 * VLANs as systemd-networkd units (vlan-units.ts): a .netdev Kind=vlan, the
 * VLAN's .network (Bridge= the network's bridge), and a drop-in `VLAN=NAME`
 * for the parent's existing .network. The parent must already be managed by
 * networkd: volt does not take an operator's link over, it refuses and says how.
 */
export class NetworkdVlans {
  constructor(
    private readonly host: HostContext,
    private readonly options: NetworkdVlanOptions = {},
  ) {}

  private get dir(): string {
    return this.host.paths.networkdEtcDir;
  }

  vlanSupport(): Promise<Availability> {
    return probe8021q();
  }

  async setupVlan(spec: VlanSpec): Promise<void> {
    checkVlanSpec(spec);
    const what = describeSetup(spec);
    const links = await readLinks(what);
    const before = links.get(spec.ifname);
    if (before) assertSameVlan(what, before, spec);
    else if (!links.has(spec.parent)) throw parentMissing(what, spec);
    if (spec.bridge !== undefined && links.get(spec.bridge)?.kind !== 'bridge') {
      throw new DriverError(`${what}: bridge ${spec.bridge} does not exist`, {
        code: 'E_VLAN_BRIDGE_MISSING',
        suggestions: ['run `volt net up` to re-create the network bridges first'],
      });
    }
    // networkd would only log that it cannot make the link; say it before writing anything.
    if (!before) {
      const support = await probe8021q();
      if (!support.ok) throw vlanUnsupported(what, support.reason);
    }
    const parentNetwork = await this.parentNetwork(what, spec.parent);
    const units = renderVlanUnits(spec, parentNetwork);
    const dropinDir = path.join(this.dir, path.dirname(units.dropin.name));
    const madeDir = await ensureDir(dropinDir);
    let previous: PreviousUnit[] = [];
    const started = Date.now();
    try {
      previous = await writeChangedUnits(this.dir, [units.netdev, units.network, units.dropin]);
      // A drop-in left beside an older name of the parent's .network would add the VLAN twice.
      const stale = (await this.dropins(spec.ifname)).filter((f) => f !== path.join(this.dir, units.dropin.name));
      for (const f of stale) await fs.rm(f, { force: true });
      if (previous.length > 0 || stale.length > 0) {
        this.host.debug(`${what}: wrote ${previous.map((p) => p.file).join(', ')}; networkctl reload`);
        // The drop-in changes the parent's .network: the reload makes networkd re-apply it, and
        // configuring the parent is when networkd creates its stacked netdevs.
        await networkctl(what, ['reload']);
      } else {
        if (converged(before, spec) && (await this.configured(spec.ifname))) return;
        // Units unchanged but the kernel drifted: a missing VLAN is re-created only when
        // networkd configures its parent again; a present one just needs its .network re-applied.
        this.host.debug(`${what}: units unchanged, kernel differs; asking networkd to re-apply`);
        await networkctl(what, ['reconfigure', before ? spec.ifname : spec.parent]);
      }
      await this.waitConfigured(what, spec, started);
    } catch (e: unknown) {
      await restoreUnits(previous);
      if (madeDir) await fs.rmdir(dropinDir).catch(() => undefined);
      if (previous.length > 0) await this.reloadQuietly(what);
      if (!before) await deleteIfVlan(spec);
      throw e;
    }
  }

  async teardownVlan(spec: VlanSpec): Promise<void> {
    const what = `remove VLAN "${spec.ifname}" (id ${spec.id} on ${spec.parent})`;
    const names = vlanUnitNames(spec.ifname);
    const removed = await removeUnits(this.dir, [names.netdev, names.network]);
    for (const f of await this.dropins(spec.ifname)) {
      await fs.rm(f, { force: true });
      await fs.rmdir(path.dirname(f)).catch(() => undefined); // only when empty
      removed.push(f);
    }
    // Without this reload networkd would make the VLAN again the next time it configures the parent.
    if (removed.length > 0) await this.reloadQuietly(what);
    const link = (await readLinks(what)).get(spec.ifname);
    if (!link) return;
    if (link.kind !== 'vlan' || link.parent !== spec.parent || link.id !== spec.id) {
      this.host.warn(`${what}: ${describeLink(link)}; left alone`);
      return;
    }
    // networkd never deletes a netdev whose unit went away.
    const r = await runCommand('ip', ['link', 'del', 'dev', spec.ifname]);
    if (okOrGone(r)) return;
    throw new DriverError(`${what}: ${r.stderr.trim() || `ip exited with ${r.code}`}`, { code: 'E_KERNEL' });
  }

  inspectVlans(ifnames: readonly string[]): Promise<VlanObservation[]> {
    return observeVlans(ifnames);
  }

  /** The basename of the .network networkd applies to the parent; refuses when there is none. */
  private async parentNetwork(what: string, parent: string): Promise<string> {
    const state = await networkdLinkState(parent);
    const file = state?.networkFile;
    if (file && state.adminState !== 'unmanaged' && state.adminState !== 'linger') return path.basename(file);
    throw new DriverError(
      `${what}: parent ${parent} is not managed by systemd-networkd (${describeParent(state)}), and networkd creates a VLAN only from its parent's .network`,
      {
        code: 'E_VLAN_PARENT_UNMANAGED',
        suggestions: [
          `give ${parent} a .network in /etc/systemd/network ([Match] Name=${parent} plus the addresses it needs), networkctl reload, and run the command again: volt then adds VLAN= to it as a drop-in`,
          'or use the direct bridge driver for this host (drivers: bridge: direct in config.yaml)',
        ],
      },
    );
  }

  /** Every drop-in volt wrote for this VLAN, under any .network's drop-in directory. */
  private async dropins(ifname: string): Promise<string[]> {
    let entries: string[];
    try {
      entries = await fs.readdir(this.dir);
    } catch {
      return [];
    }
    const found: string[] = [];
    for (const d of entries.filter((e) => e.endsWith('.network.d'))) {
      const f = path.join(this.dir, d, vlanDropinFile(ifname));
      if (await fs.access(f).then(() => true, () => false)) found.push(f);
    }
    return found;
  }

  private async configured(ifname: string): Promise<boolean> {
    return (await networkdLinkState(ifname))?.adminState === 'configured';
  }

  private async waitConfigured(what: string, spec: VlanSpec, started: number): Promise<void> {
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    const pollMs = this.options.pollMs ?? 50;
    let moved = false;
    for (;;) {
      const link = (await readLinks(what)).get(spec.ifname);
      if (link && !moved && link.kind === 'vlan' && link.master !== spec.bridge) {
        // networkd does not move an already configured port on reload; do it, the unit now says the same.
        moved = true;
        const args = spec.bridge === undefined ? ['nomaster'] : ['master', spec.bridge];
        await runCommand('ip', ['link', 'set', 'dev', spec.ifname, ...args]);
      }
      const state = link ? await networkdLinkState(spec.ifname) : undefined;
      if (converged(link, spec) && state?.adminState === 'configured') return;
      const elapsed = Date.now() - started;
      if (elapsed >= timeoutMs || (state?.adminState === 'failed' && elapsed >= 1000)) {
        throw new DriverError(
          `${what}: systemd-networkd did not ${link ? 'configure' : 'create'} it within ${timeoutMs / 1000} s (${describeObserved(link, state, spec)})`,
          {
            code: 'E_NETWORKD_TIMEOUT',
            suggestions: [`networkctl status ${spec.parent} ${spec.ifname}`, 'journalctl -u systemd-networkd'],
          },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
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

function converged(link: VlanObservation | undefined, spec: VlanSpec): boolean {
  return link !== undefined && link.kind === 'vlan' && link.parent === spec.parent && link.id === spec.id && link.up && link.master === spec.bridge;
}

function describeSetup(spec: VlanSpec): string {
  const on = spec.bridge === undefined ? '' : ` as uplink of network "${spec.network ?? spec.bridge}"`;
  return `set up VLAN "${spec.ifname}" (id ${spec.id} on ${spec.parent})${on}`;
}

function describeParent(state: NetworkdLinkState | undefined): string {
  if (!state) return 'networkd does not know it';
  if (!state.networkFile) return `networkd says "${state.adminState}", no .network applies to it`;
  return `networkd says "${state.adminState}"`;
}

function describeObserved(link: VlanObservation | undefined, state: NetworkdLinkState | undefined, spec: VlanSpec): string {
  if (!link) return 'the link does not exist';
  const parts = [link.up ? 'up' : 'down', link.master ? `on bridge ${link.master}` : 'on no bridge'];
  if (spec.bridge !== undefined && link.master !== spec.bridge) parts.push(`wants ${spec.bridge}`);
  parts.push(state ? `networkd says "${state.adminState}"` : 'networkd does not know it');
  return parts.join(', ');
}

/** Undo: remove a VLAN networkd made during a failed set-up (only if it is the one asked for). */
async function deleteIfVlan(spec: VlanSpec): Promise<void> {
  const link = (await listVlanLinks().catch(() => [])).find((l) => l.ifname === spec.ifname);
  if (link?.kind === 'vlan' && link.parent === spec.parent && link.id === spec.id) {
    await runCommand('ip', ['link', 'del', 'dev', spec.ifname]);
  }
}

/** mkdir; true when this call created it. */
async function ensureDir(dir: string): Promise<boolean> {
  try {
    await fs.mkdir(dir, { mode: 0o755 });
    return true;
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
    return true;
  }
}
