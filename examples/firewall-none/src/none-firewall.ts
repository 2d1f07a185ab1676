import type { Availability } from '@volt/sdk';
import type { FirewallDriver, FirewallNetwork, HostInputPolicy } from '@volt/sdk';
import type { HostContext } from '@volt/sdk';

/**
 * A firewall driver that installs nothing: NAT, isolation and the host policy
 * are left to whatever already manages the host's firewall. Only type imports
 * from @volt/sdk, so the plugin has no runtime dependency on it.
 */
export class NoneFirewall implements FirewallDriver {
  readonly name = 'none';
  readonly preference = -10;
  readonly fallback = false;
  readonly description = 'installs no rules; the host firewall is managed elsewhere';

  constructor(private readonly host: HostContext) {}

  async available(): Promise<Availability> {
    return { ok: true, reason: 'always (does nothing)' };
  }

  async setupBase(_policy: HostInputPolicy): Promise<void> {
    this.host.debug('firewall none: setupBase is a no-op');
  }

  async teardownBase(): Promise<void> {}

  async setupNetwork(net: FirewallNetwork): Promise<void> {
    if (net.nat) this.host.warn(`firewall driver "none": network "${net.name}" wants NAT; configure masquerade for ${net.subnet} yourself`);
  }

  async teardownNetwork(_net: FirewallNetwork): Promise<void> {}

  async check(): Promise<string[]> {
    return [];
  }
}
