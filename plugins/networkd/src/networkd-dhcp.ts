import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { HostContext } from '@volt/sdk';
import type { Availability } from '@volt/sdk';
import type { GuestDhcp, GuestDhcpSpec } from '@volt/sdk';
import { errorMessage } from '@volt/sdk';
import { networkctl } from './networkctl';
import { NetworkdBridge } from './networkd-bridge';
import { removeUnits, restoreUnits, writeChangedUnits } from './unit-files';
import { dhcpDropinNames, renderDhcpDropin } from './units';

/**
 * Guests' DHCP with networkd's own DHCP server: a drop-in for the bridge's
 * .network (runtime directory) with DHCPServer=yes and one
 * [DHCPServerStaticLease] per VM NIC; `networkctl reload` re-applies it to
 * the bridge. Goes with the networkd bridge driver, whose .network it extends.
 */
export class NetworkdDhcp implements GuestDhcp {
  readonly name = 'networkd-dhcp';
  readonly preference = 10;
  readonly fallback = false;
  readonly description = "systemd-networkd's DHCPServer with static leases, as a drop-in for the bridge's .network";
  readonly forBridge = 'networkd';

  constructor(private readonly host: HostContext) {}

  available(): Promise<Availability> {
    return new NetworkdBridge(this.host).available();
  }

  private dropinDir(bridge: string): string {
    return path.join(this.host.paths.networkdRunDir, dhcpDropinNames(bridge).dir);
  }

  async setupDhcp(spec: GuestDhcpSpec): Promise<void> {
    const what = `serve DHCP on bridge ${spec.bridge} (network "${spec.network}") through systemd-networkd`;
    const dir = this.dropinDir(spec.bridge);
    const previous = await writeChangedUnits(dir, [{ name: dhcpDropinNames(spec.bridge).file, content: renderDhcpDropin(spec) }]);
    if (previous.length === 0) return;
    try {
      await networkctl(what, ['reload']);
    } catch (e: unknown) {
      await restoreUnits(previous);
      throw e;
    }
  }

  async teardownDhcp(spec: Pick<GuestDhcpSpec, 'network' | 'bridge'>): Promise<void> {
    const what = `stop DHCP on bridge ${spec.bridge} (network "${spec.network}")`;
    const dir = this.dropinDir(spec.bridge);
    const removed = await removeUnits(dir, [dhcpDropinNames(spec.bridge).file]);
    await fs.rmdir(dir).catch(() => undefined);
    if (removed.length === 0) return;
    try {
      await networkctl(what, ['reload']);
    } catch (e: unknown) {
      // Nothing loaded to forget when networkd is not running.
      this.host.warn(errorMessage(e));
    }
  }
}
