import { Args } from '@oclif/core';
import { VoltCommand } from '../../../cli/base-command';
import { vlanServiceOf } from './list';

export default class NetVlanDetach extends VoltCommand {
  static override summary = "Take a VLAN off its network's bridge; the VLAN interface stays.";
  static override description = '`volt net delete` does the same for the uplink of the network it deletes.';
  static override examples = ['<%= config.bin %> net vlan detach eth0.200'];
  static override args = { name: Args.string({ description: 'VLAN interface name.', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(NetVlanDetach);
    const { vlan, from } = await (await vlanServiceOf(this.app)).detach(args.name);
    this.print(from === undefined ? `VLAN ${vlan.name} is on no network` : `detached VLAN ${vlan.name} from network ${from}`);
  }
}
