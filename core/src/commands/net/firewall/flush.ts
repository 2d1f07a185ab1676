import { VoltCommand } from '../../../cli/base-command';

export default class NetFirewallFlush extends VoltCommand {
  static override summary = "Delete every user firewall rule; the default policy, NAT, port forwards, policies and other tables stay.";
  static override examples = ['<%= config.bin %> net firewall flush'];

  async run(): Promise<void> {
    await this.parse(NetFirewallFlush);
    const n = await (await this.app.firewallRules()).flush();
    this.print(n === 0 ? 'no user firewall rules to flush' : `flushed ${n} user firewall rule${n === 1 ? '' : 's'}`);
  }
}
