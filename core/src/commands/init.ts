import { VoltCommand } from '../cli/base-command';

export default class Init extends VoltCommand {
  static override summary = 'Create the default network (volt0) and volt’s firewall table.';
  static override description =
    'Creates the default network from config defaults (network.default_bridge, network.default_subnet; volt0 10.0.0.0/24, gateway 10.0.0.1) unless it exists. Other commands do this implicitly on first use.';
  static override examples = ['<%= config.bin %> init'];

  async run(): Promise<void> {
    await this.parse(Init);
    const svc = await this.app.networks();
    const created = await svc.init();
    if (created) this.print(`created network ${created.name} (bridge ${created.bridge}, ${created.subnet}, gateway ${created.gateway})`);
    else this.print(`default network ${this.app.config.network.default_bridge} already exists`);
  }
}
