import { Args } from '@oclif/core';
import { VoltCommand } from '../../cli/base-command';

export default class VmDelete extends VoltCommand {
  static override summary = 'Delete a stopped VM: its record, its addresses on every network, and its runtime files.';
  static override examples = ['<%= config.bin %> vm delete db-primary'];
  static override args = { name: Args.string({ description: 'VM name.', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(VmDelete);
    const v = await (await this.app.vms()).delete(args.name);
    this.print(`deleted VM ${v.name}`);
  }
}
