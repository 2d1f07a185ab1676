import { Args } from '@oclif/core';
import { VoltCommand } from '../../../cli/base-command';
import { vlanServiceOf } from './list';

export default class NetVlanDelete extends VoltCommand {
  static override summary = 'Delete a VLAN interface (and, when it is one, the uplink of its network).';
  static override description = 'Removes the VLAN link (and its networkd units); the parent link is never touched. A VLAN that does not exist is an error (exit code 3).';
  static override examples = ['<%= config.bin %> net vlan delete eth0.100'];
  static override args = { name: Args.string({ description: 'VLAN interface name.', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(NetVlanDelete);
    const v = await (await vlanServiceOf(this.app)).delete(args.name);
    this.print(`deleted VLAN ${v.name} (id ${v.id} on ${v.parent}${v.network === undefined ? '' : `, was the uplink of network ${v.network}`})`);
  }
}
