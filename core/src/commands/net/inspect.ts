import { Args } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../cli/base-command';
import { keyValues } from '../../output/render';
import type { NetworkRecord } from '../../state/types';

export function networkSummary(n: NetworkRecord): string {
  return `${n.name} (bridge ${n.bridge}, ${n.subnet}, gateway ${n.gateway}, ${n.nat ? 'NAT' : 'no NAT'}, MTU ${n.mtu})`;
}

export default class NetInspect extends VoltCommand {
  static override summary = 'Show one network: its bridge, addresses, NAT, attached ports and kernel status.';
  static override examples = ['<%= config.bin %> net inspect backend', '<%= config.bin %> net inspect backend -o json'];
  static override args = { name: Args.string({ description: 'Network name.', required: true }) };
  static override flags = { output: outputFlag(['table', 'json', 'yaml']) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NetInspect);
    const svc = await this.app.networks();
    svc.get(args.name); // not-found error before touching drivers
    const view = (await svc.list()).find((n) => n.name === args.name)!;
    const drift = (await svc.check()).filter((d) => d.includes(`"${view.name}"`) || d.includes(view.bridge));
    if (flags.output !== 'table') {
      this.printList(flags.output, [], [], { ...view, drift });
      return;
    }
    this.print(
      keyValues([
        ['Name', view.name],
        ['Bridge', view.bridge],
        ['Subnet', view.subnet],
        ['Gateway', view.gateway],
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
  }
}
