import { Args, Flags } from '@oclif/core';
import { VoltCommand } from '../../../cli/base-command';

export default class NetBridgeCreate extends VoltCommand {
  static override summary = 'Create a bridge with a subnet (a managed network named after it).';
  static override description = 'Same as `volt net create --name NAME --subnet CIDR`: every bridge belongs to a network.';
  static override examples = ['<%= config.bin %> net bridge create mybridge --subnet 10.50.0.0/24'];
  static override args = { name: Args.string({ description: 'Bridge (network) name.', required: true }) };
  static override flags = {
    subnet: Flags.string({ description: 'IPv4 subnet in CIDR form.', required: true }),
    mtu: Flags.integer({ description: 'MTU of the bridge.' }),
    nat: Flags.boolean({ description: 'Masquerade outbound traffic.', default: true, allowNo: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NetBridgeCreate);
    const n = await (await this.app.networks()).create({ name: args.name, subnet: flags.subnet, mtu: flags.mtu, nat: flags.nat });
    this.print(`created bridge ${n.bridge} for network ${n.name} (${n.subnet}, gateway ${n.gateway})`);
  }
}
