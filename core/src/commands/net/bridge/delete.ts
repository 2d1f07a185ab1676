import { Args, Flags } from '@oclif/core';
import { VoltCommand } from '../../../cli/base-command';

export default class NetBridgeDelete extends VoltCommand {
  static override summary = 'Delete a bridge and its network.';
  static override examples = ['<%= config.bin %> net bridge delete mybridge'];
  static override args = { name: Args.string({ description: 'Bridge (network) name.', required: true }) };
  static override flags = { force: Flags.boolean({ description: 'Delete even if workloads are attached.' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NetBridgeDelete);
    const n = await (await this.app.networks()).delete(args.name, flags.force);
    this.print(`deleted bridge ${n.bridge} (network ${n.name})`);
  }
}
