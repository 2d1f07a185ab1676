import type { BridgeContainerPorts } from '@volt/sdk';
import { ipJsonIn, nsAlive, nsPath } from '../../kernel/netns';
import { canonicalIPv6 } from '../../net/ipv6';
import type { AttachmentRecord, VoltState } from '../../state/types';
import { portSpec } from '../attachments/plans';
import { prefixOf } from './network-plan';

/**
 * Containers' IPv6 addresses against the kernel: `volt net check` reports a dual-stack
 * attachment whose interface lacks its recorded v6 address (or the v6 default route its first
 * network gives it), `volt net up` configures the port again (idempotent: address, route).
 * Only containers whose namespace is alive are read; one `ip` per container that has a v6 address.
 * VM guests configure their own address (SLAAC/DHCPv6): nothing to read on the host.
 */
export interface V6Finding {
  drift: string;
  attachment: AttachmentRecord;
  nsFile: string;
  defaultRoute: boolean;
}

interface AddrJson {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}
interface RouteJson {
  dst?: string;
  gateway?: string;
  dev?: string;
}

export async function containerV6Drift(state: VoltState): Promise<V6Finding[]> {
  const out: V6Finding[] = [];
  const byWorkload = new Map<string, AttachmentRecord[]>();
  for (const a of state.attachments) byWorkload.set(a.workload, [...(byWorkload.get(a.workload) ?? []), a]);
  for (const [name, atts] of byWorkload) {
    const w = state.workloads[name];
    if (w?.type !== 'container') continue;
    const v6 = atts.filter((a) => a.kind === 'veth' && a.ip6 !== undefined && state.networks[a.network]?.subnet6 !== undefined);
    if (v6.length === 0) continue;
    const nsFile = nsPath(w.source);
    if (!nsAlive(nsFile)) continue;
    const [links, routes] = await Promise.all([ipJsonIn<AddrJson[]>(nsFile, ['-6', 'addr', 'show']), ipJsonIn<RouteJson[]>(nsFile, ['-6', 'route', 'show', 'default'])]);
    if (links === undefined) continue;
    for (const a of v6) {
      const net = state.networks[a.network]!;
      const want = `${a.ip6}/${prefixOf(net.subnet6!)}`;
      const defaultRoute = atts[0] === a;
      const link = links.find((l) => l.ifname === a.ifname);
      const has = (link?.addr_info ?? []).some((x) => x.family === 'inet6' && x.local !== undefined && canonicalIPv6(x.local) === a.ip6 && `${x.prefixlen}` === want.split('/')[1]);
      const what = `container "${name}" on network "${a.network}"`;
      if (link === undefined) continue; // the link itself is missing: the leftover scan and a reconnect are the remedy
      if (!has) out.push({ drift: `${what}: ${a.ifname} lacks its IPv6 address ${want}`, attachment: a, nsFile, defaultRoute });
      else if (defaultRoute && net.gateway6 !== undefined && !(routes ?? []).some((r) => r.dev === a.ifname && r.gateway !== undefined && canonicalIPv6(r.gateway) === net.gateway6)) {
        out.push({ drift: `${what}: no IPv6 default route via ${net.gateway6} on ${a.ifname}`, attachment: a, nsFile, defaultRoute });
      }
    }
  }
  return out;
}

/** `volt net up`: configure each drifted port again through the bridge driver (address, route). */
export async function repairContainerV6(state: VoltState, findings: V6Finding[], ports: Pick<BridgeContainerPorts, 'configureContainerPort'>): Promise<void> {
  for (const f of findings) {
    const net = state.networks[f.attachment.network];
    if (net) await ports.configureContainerPort(portSpec(f.attachment, net, f.nsFile, f.defaultRoute));
  }
}
