import { promises as fs } from 'node:fs';
import type { HostContext } from '@volt/sdk';
import type { VlanObservation, VlanSpec } from '@volt/sdk';
import type { Availability } from '@volt/sdk';
import { DriverError, errorMessage } from '@volt/sdk';
import { okOrGone, runCommand } from '@volt/sdk/kernel';
import {
  assertSameVlan,
  checkVlanSpec,
  describeLink,
  isVlanUnsupportedError,
  observeVlans,
  parentMissing,
  probe8021q,
  readLinks,
  vlanUnsupported,
} from '@volt/sdk/kernel';

/**
 * 802.1Q links made with iproute2: `ip link add link PARENT name NAME type vlan id N`,
 * enslaved to the network's bridge. One `ip -batch` per set-up, planned from what
 * the kernel lacks, so a converged VLAN costs one read.
 */
export class DirectVlans {
  constructor(private readonly host: HostContext) {}

  vlanSupport(): Promise<Availability> {
    return probe8021q();
  }

  async setupVlan(spec: VlanSpec): Promise<void> {
    checkVlanSpec(spec);
    const what = describeSetup(spec);
    const links = await readLinks(what);
    const link = links.get(spec.ifname);
    if (link) assertSameVlan(what, link, spec);
    else if (!links.has(spec.parent)) throw parentMissing(what, spec);
    if (spec.bridge !== undefined && links.get(spec.bridge)?.kind !== 'bridge') {
      throw new DriverError(`${what}: bridge ${spec.bridge} does not exist`, {
        code: 'E_VLAN_BRIDGE_MISSING',
        suggestions: ['run `volt net up` to re-create the network bridges first'],
      });
    }
    const lines = planVlan(spec, link, await ipv6Present());
    if (lines.length === 0) return;
    this.host.debug(`${what}: ip -batch:\n  ${lines.join('\n  ')}`);
    const r = await runCommand('ip', ['-batch', '-'], { input: lines.join('\n') + '\n' });
    if (r.code === 0) return;
    // A half-made VLAN (created, but not enslaved or up) is removed: nothing half-applied.
    if (!link) await this.removeCreated(spec.ifname);
    if (isVlanUnsupportedError(r.stderr)) throw vlanUnsupported(what, (await probe8021q()).reason);
    throw new DriverError(`${what}: ${firstLine(r.stderr) || `ip exited with ${r.code}`}`, { code: 'E_KERNEL' });
  }

  async teardownVlan(spec: VlanSpec): Promise<void> {
    const what = `remove VLAN "${spec.ifname}" (id ${spec.id} on ${spec.parent})`;
    const link = (await readLinks(what)).get(spec.ifname);
    if (!link) return;
    if (link.kind !== 'vlan' || link.parent !== spec.parent || link.id !== spec.id) {
      // Not the VLAN volt made: never delete another program's interface.
      this.host.warn(`${what}: ${describeLink(link)}; left alone`);
      return;
    }
    await deleteLink(what, spec.ifname);
  }

  inspectVlans(ifnames: readonly string[]): Promise<VlanObservation[]> {
    return observeVlans(ifnames);
  }

  private async removeCreated(ifname: string): Promise<void> {
    try {
      await deleteLink(`undo create VLAN "${ifname}"`, ifname);
    } catch (e: unknown) {
      this.host.warn(errorMessage(e));
    }
  }
}

/** The `ip -batch` lines that take the kernel from `link` to `spec`; empty when converged. */
export function planVlan(spec: VlanSpec, link: VlanObservation | undefined, ipv6: boolean): string[] {
  const dev = spec.ifname;
  if (!link) {
    return [
      `link add link ${spec.parent} name ${dev} type vlan id ${spec.id}`,
      `link set dev ${dev} alias volt:vlan/${spec.id}`, // ownership mark without state (core/src/services/leftovers.ts)
      // An L2 uplink: no IPv6 link-local address of its own (the bridge has the addresses).
      ...(ipv6 ? [`link set dev ${dev} addrgenmode none`] : []),
      ...(spec.bridge !== undefined ? [`link set dev ${dev} master ${spec.bridge}`] : []),
      `link set dev ${dev} up`,
    ];
  }
  const lines: string[] = [];
  if (spec.bridge !== undefined && link.master !== spec.bridge) lines.push(`link set dev ${dev} master ${spec.bridge}`);
  if (spec.bridge === undefined && link.master !== undefined) lines.push(`link set dev ${dev} nomaster`);
  if (!link.up) lines.push(`link set dev ${dev} up`);
  return lines;
}

export function describeSetup(spec: VlanSpec): string {
  const on = spec.bridge === undefined ? '' : ` as uplink of network "${spec.network ?? spec.bridge}"`;
  return `set up VLAN "${spec.ifname}" (id ${spec.id} on ${spec.parent})${on}`;
}

async function deleteLink(what: string, ifname: string): Promise<void> {
  const r = await runCommand('ip', ['link', 'del', 'dev', ifname]);
  if (okOrGone(r)) return;
  throw new DriverError(`${what}: ${firstLine(r.stderr) || `ip exited with ${r.code}`}`, { code: 'E_KERNEL' });
}

async function ipv6Present(): Promise<boolean> {
  try {
    await fs.access('/proc/sys/net/ipv6/conf');
    return true;
  } catch {
    return false;
  }
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.trim() ?? '';
}
