import { Flags } from '@oclif/core';
import { VoltCommand } from '../../../cli/base-command';

export default class NetPolicyDelete extends VoltCommand {
  static override summary = 'Delete a network policy.';
  static override description = 'When the last policy targeting a workload goes, the workload is no longer isolated and the default policy applies to it again. A policy that does not exist is an error (exit code 3).';
  static override examples = ['<%= config.bin %> net policy delete --name app-to-db'];
  static override flags = { name: Flags.string({ description: 'Policy name.', required: true }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetPolicyDelete);
    const p = await (await this.app.policies()).delete(flags.name);
    this.print(`deleted policy ${p.name}`);
  }
}
