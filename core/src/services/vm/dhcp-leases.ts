import type { GuestDhcp, GuestDhcpSpec } from '@volt/sdk';
import { errorMessage } from '@volt/sdk';
import type { VoltState } from '../../state/types';

/**
 * What the guests' DHCP server of one network must serve: one static lease
 * per VM NIC attached to it (the address IPAM reserved for that MAC), the
 * gateway as router and DNS server. Containers are configured directly and
 * need no lease.
 */
export function dhcpSpec(state: VoltState, network: string): GuestDhcpSpec | undefined {
  const n = state.networks[network];
  if (!n) return undefined;
  const leases = state.attachments
    .filter((a) => a.network === network && a.kind === 'tap')
    .map((a) => ({ mac: a.mac, ip: a.ip, ...(a.ip6 !== undefined ? { ip6: a.ip6 } : {}), hostname: a.workload }))
    .sort((a, b) => a.mac.localeCompare(b.mac));
  const v6 = n.subnet6 !== undefined && n.gateway6 !== undefined ? { subnet6: n.subnet6, gateway6: n.gateway6 } : {};
  return { network: n.name, bridge: n.bridge, subnet: n.subnet, gateway: n.gateway, ...v6, mtu: n.mtu, leases };
}

/** Networks that have VM leases in `state`. */
export function networksWithLeases(state: VoltState): string[] {
  return [...new Set(state.attachments.filter((a) => a.kind === 'tap').map((a) => a.network))].filter((n) => state.networks[n]).sort();
}

/**
 * Make the DHCP service of each network serve exactly the leases in `state`:
 * set up where there are leases, torn down where there are none.
 */
export async function syncLeases(dhcp: GuestDhcp, state: VoltState, networks: Iterable<string>): Promise<void> {
  for (const name of new Set(networks)) {
    const spec = dhcpSpec(state, name);
    if (!spec) continue;
    if (spec.leases.length > 0) await dhcp.setupDhcp(spec);
    else await dhcp.teardownDhcp(spec);
  }
}

/** syncLeases that reports failures instead of stopping at the first (reconcile). */
export async function syncLeasesAll(dhcp: GuestDhcp, state: VoltState, networks: Iterable<string>): Promise<string[]> {
  const failures: string[] = [];
  for (const name of new Set(networks)) {
    try {
      await syncLeases(dhcp, state, [name]);
    } catch (e: unknown) {
      failures.push(errorMessage(e));
    }
  }
  return failures;
}
