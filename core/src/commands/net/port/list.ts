import { VoltCommand, outputFlag } from '../../../cli/base-command';
import type { PortView } from '../../../services/firewall/port-service';

export default class NetPortList extends VoltCommand {
  static override summary = 'List port forwards; STATUS is active only when the target runs and has an address.';
  static override description = 'STATUS: active, stopped (the target is not running), no-address (running but on no network), unknown-target (the workload is gone). HOST-IP * means every address of the host.';
  static override examples = ['<%= config.bin %> net port list', '<%= config.bin %> net port list -o json'];
  static override flags = { output: outputFlag(['table', 'json', 'yaml']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetPortList);
    const rows = (await this.app.ports()).list();
    this.printList(
      flags.output,
      [
        { header: 'HOST-PORT', get: (f: PortView) => f.hostPort },
        { header: 'TARGET', get: (f: PortView) => f.target },
        { header: 'TARGET-PORT', get: (f: PortView) => f.targetPort },
        { header: 'PROTO', get: (f: PortView) => f.proto },
        { header: 'STATUS', get: (f: PortView) => f.status },
        { header: 'HOST-IP', get: (f: PortView) => f.hostIp ?? '*' },
        { header: 'TARGET-ADDRESS', get: (f: PortView) => [f.targetAddress, f.targetAddress6].filter((x) => x !== undefined).join(', ') || undefined },
      ],
      rows,
    );
  }
}
