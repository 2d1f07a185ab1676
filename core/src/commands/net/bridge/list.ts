import { VoltCommand, outputFlag } from '../../../cli/base-command';
import type { Column } from '../../../output/render';
import type { NetworkView } from '../../../services/network/network-service';

const columns: Column<NetworkView>[] = [
  { header: 'NAME', get: (n) => n.name },
  { header: 'SUBNET', get: (n) => n.subnet },
  { header: 'MTU', get: (n) => n.mtu },
  { header: 'CONNECTED', get: (n) => n.connected },
  { header: 'STATUS', get: (n) => n.status },
];

export default class NetBridgeList extends VoltCommand {
  static override summary = 'List the bridges behind managed networks.';
  static override examples = ['<%= config.bin %> net bridge list', '<%= config.bin %> net bridge list -o json'];
  static override flags = { output: outputFlag() };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetBridgeList);
    const rows = await (await this.app.networks()).list();
    this.printList(
      flags.output,
      columns,
      rows,
      rows.map((n) => ({ name: n.name, bridge: n.bridge, subnet: n.subnet, mtu: n.mtu, connected: n.connected, ports: n.ports, status: n.status })),
    );
  }
}
