import { Flags } from '@oclif/core';
import { VoltCommand } from '../../../cli/base-command';

export default class NetFirewallDelete extends VoltCommand {
  static override summary = 'Delete a user firewall rule by name.';
  static override description = 'A rule that does not exist is an error (exit code 3), distinct from a failure to change the firewall (5).';
  static override examples = ['<%= config.bin %> net firewall delete --name allow-http'];
  static override flags = { name: Flags.string({ description: 'Rule name.', required: true }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetFirewallDelete);
    const gone = await (await this.app.firewallRules()).delete(flags.name);
    this.print(`deleted rule ${gone.name}`);
  }
}
