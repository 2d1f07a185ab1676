import { Args, Flags } from '@oclif/core';
import { VoltCommand } from '../../cli/base-command';

export default class NetDelete extends VoltCommand {
  static override summary = 'Delete a network: its firewall rules, NAT and bridge.';
  static override description = 'Refuses while workloads are attached unless --force, which detaches them.';
  static override examples = ['<%= config.bin %> net delete backend', '<%= config.bin %> net delete backend --force'];
  static override args = { name: Args.string({ description: 'Network name.', required: true }) };
  static override flags = { force: Flags.boolean({ description: 'Delete even if workloads are attached (they are detached).' }) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NetDelete);
    const n = await (await this.app.networks()).delete(args.name, flags.force);
    this.print(`deleted network ${n.name} (bridge ${n.bridge})`);
  }
}
