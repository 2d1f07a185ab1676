import { Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../../cli/base-command';
import { vlanServiceOf, vlanSummary } from './list';

export default class NetVlanCreate extends VoltCommand {
  static override summary = 'Create an 802.1Q VLAN interface on a host link, optionally as the uplink of a network.';
  static override description = `Creates the VLAN interface NAME (default PARENT.ID) with id ID on the host link PARENT. With --network it becomes a port of that network's bridge: the VLAN's L2 segment and the network are one, so hosts on the VLAN reach the network's workloads directly (one uplink per network). PARENT must be a host link (a NIC, a bond, a veth to a switch), not a bridge, a bridge port or the loopback. With the networkd bridge driver the parent must already be managed by systemd-networkd (see docs/vlans.md). Nothing is changed when any check fails.`;
  static override examples = [
    '<%= config.bin %> net vlan create --parent eth0 --id 100',
    '<%= config.bin %> net vlan create --parent eth0 --id 200 --network backend',
    '<%= config.bin %> net vlan create --parent enp3s0f1 --id 3001 --name storage.3001 --network storage',
  ];
  static override flags = {
    parent: Flags.string({ description: 'Host link the VLAN is stacked on (e.g. eth0).', required: true }),
    id: Flags.string({ description: 'VLAN id, 1–4094.', required: true }),
    name: Flags.string({ description: 'Interface name (default PARENT.ID, at most 15 characters).' }),
    network: Flags.string({ description: "Make it the uplink of this network (a port of the network's bridge)." }),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetVlanCreate);
    const v = await (await vlanServiceOf(this.app)).create({ parent: flags.parent, id: flags.id, name: flags.name, network: flags.network });
    if (flags.output === 'table') this.print(`created VLAN ${vlanSummary(v)}`);
    else this.printList(flags.output, [], [], v);
  }
}
