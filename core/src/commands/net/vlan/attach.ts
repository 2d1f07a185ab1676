import { Args } from '@oclif/core';
import { VoltCommand } from '../../../cli/base-command';
import { vlanServiceOf, vlanSummary } from './list';

export default class NetVlanAttach extends VoltCommand {
  static override summary = "Make an existing VLAN the uplink of a network (a port of the network's bridge).";
  static override description = 'One uplink per network; a VLAN that is the uplink of another network must be detached first. Attaching it again to the same network only repairs it.';
  static override examples = ['<%= config.bin %> net vlan attach eth0.200 backend'];
  static override args = {
    name: Args.string({ description: 'VLAN interface name.', required: true }),
    network: Args.string({ description: 'Network name.', required: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(NetVlanAttach);
    const v = await (await vlanServiceOf(this.app)).attach(args.name, args.network);
    this.print(`attached VLAN ${vlanSummary(v)}`);
  }
}
