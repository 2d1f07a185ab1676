import { VoltCommand, outputFlag } from '../../cli/base-command';
import { networkColumns, networkColumnsFor } from '../../cli/net-list-view';

// The columns live beside the fast path that prints the same listing without oclif (cli/fast-path.ts).
export { networkColumns };

export default class NetList extends VoltCommand {
  static override summary = 'List managed networks with their kernel status.';
  static override examples = ['<%= config.bin %> net list', '<%= config.bin %> net list -o json'];
  static override flags = { output: outputFlag() };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetList);
    const rows = await (await this.app.networks()).list();
    this.printList(flags.output, networkColumnsFor(rows), rows);
  }
}
