import { VoltCommand, outputFlag } from '../../cli/base-command';
import type { Column } from '../../output/render';
import type { NetworkView } from '../../services/network-service';

export const networkColumns: Column<NetworkView>[] = [
  { header: 'NAME', get: (n) => n.name },
  { header: 'BRIDGE', get: (n) => n.bridge },
  { header: 'SUBNET', get: (n) => n.subnet },
  { header: 'GATEWAY', get: (n) => n.gateway },
  { header: 'NAT', get: (n) => n.nat },
  { header: 'MTU', get: (n) => n.mtu },
  { header: 'CONNECTED', get: (n) => n.connected },
  { header: 'STATUS', get: (n) => n.status },
];

export default class NetList extends VoltCommand {
  static override summary = 'List managed networks with their kernel status.';
  static override examples = ['<%= config.bin %> net list', '<%= config.bin %> net list -o json'];
  static override flags = { output: outputFlag() };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetList);
    const rows = await (await this.app.networks()).list();
    this.printList(flags.output, networkColumns, rows);
  }
}
