import { Args } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../cli/base-command';
import { keyValues, table } from '../../output/render';
import type { NetworkRecord } from '../../state/types';

export function networkSummary(n: NetworkRecord): string {
  const v6 = n.subnet6 !== undefined ? `, ${n.subnet6}, gateway6 ${n.gateway6 ?? '?'} (${n.ipv6Mode ?? 'nat'})` : '';
  return `${n.name} (bridge ${n.bridge}, ${n.subnet}, gateway ${n.gateway}${v6}, ${n.nat ? 'NAT' : 'no NAT'}, MTU ${n.mtu})`;
}

/** One workload on the network, as `net inspect` shows it. */
export interface NetworkWorkloadView {
  name: string;
  type: 'container' | 'vm' | 'unknown';
  ip: string;
  /** Dual-stack networks: the IPv6 address. */
  ip6?: string;
  mac: string;
  /** The bridge port on the host (veth host end or TAP). */
  port: string;
  /** The interface inside the workload. */
  ifname: string;
  /** Further names volt-dns answers for it on this network. */
  aliases: string[];
}

export default class NetInspect extends VoltCommand {
  static override summary = 'Show one network: its bridge, addresses, NAT, the workloads attached (IP, MAC, bridge port) and kernel status.';
  static override examples = ['<%= config.bin %> net inspect backend', '<%= config.bin %> net inspect backend -o json'];
  static override args = { name: Args.string({ description: 'Network name.', required: true }) };
  static override flags = { output: outputFlag(['table', 'json', 'yaml']) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NetInspect);
    const svc = await this.app.networks();
    svc.get(args.name); // not-found error before touching drivers
    const view = (await svc.list()).find((n) => n.name === args.name)!;
    const drift = (await svc.check()).filter((d) => d.includes(`"${view.name}"`) || d.includes(view.bridge));
    const state = this.app.store.read();
    const workloads: NetworkWorkloadView[] = state.attachments
      .filter((a) => a.network === view.name)
      .sort((a, b) => a.workload.localeCompare(b.workload))
      .map((a) => ({
        name: a.workload,
        type: state.workloads[a.workload]?.type ?? 'unknown',
        ip: a.ip,
        ...(a.ip6 !== undefined ? { ip6: a.ip6 } : {}),
        mac: a.mac,
        port: a.hostIfname,
        ifname: a.ifname,
        aliases: a.aliases ?? [],
      }));
    if (flags.output !== 'table') {
      this.printList(flags.output, [], [], { ...view, workloads, drift });
      return;
    }
    this.print(
      keyValues([
        ['Name', view.name],
        ['Bridge', view.bridge],
        ['Subnet', view.subnet],
        ['Gateway', view.gateway],
        ...(view.subnet6 !== undefined
          ? ([
              ['Subnet6', view.subnet6],
              ['Gateway6', view.gateway6],
              ['IPv6 mode', view.ipv6Mode ?? 'nat'],
            ] as [string, string | undefined][])
          : []),
        ['NAT', view.nat],
        ['MTU', view.mtu],
        ['MAC', view.mac],
        ['Default', view.isDefault],
        ['Status', view.status],
        ['Connected', view.connected],
        ['Ports', view.ports.join(', ')],
        ['Created', view.createdAt],
        ['Drift', drift.length === 0 ? 'none' : drift.join('; ')],
      ]),
    );
    this.print('');
    this.print(
      workloads.length === 0
        ? 'Workloads: none (connect one: volt net connect NETWORK WORKLOAD)'
        : table<NetworkWorkloadView>(
            [
              { header: 'WORKLOAD', get: (w) => w.name },
              { header: 'TYPE', get: (w) => w.type },
              { header: 'IP', get: (w) => w.ip },
              ...(view.subnet6 !== undefined ? [{ header: 'IP6', get: (w: NetworkWorkloadView) => w.ip6 ?? '-' }] : []),
              { header: 'MAC', get: (w) => w.mac },
              { header: 'PORT', get: (w) => w.port },
              { header: 'IFACE', get: (w) => w.ifname },
              { header: 'NAMES', get: (w) => (w.aliases.length > 0 ? w.aliases.join(',') : '-') },
            ],
            workloads,
          ),
    );
  }
}
