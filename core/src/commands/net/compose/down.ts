import { Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../../cli/base-command';
import { composeService, loadComposeFile } from '../../../services/compose/compose-load';

export default class NetComposeDown extends VoltCommand {
  static override summary = 'Remove the networks a Compose project created.';
  static override description = `Deletes every volt network labelled with the project (by \`volt net compose up\`); external networks and networks of other projects are never touched. Refuses while workloads are attached to them unless --force, which disconnects them first. See docs/compose.md.`;
  static override examples = ['<%= config.bin %> net compose down -f compose.yaml', '<%= config.bin %> net compose down -f compose.yaml -p shop --force'];
  static override flags = {
    file: Flags.string({ char: 'f', description: 'Compose file ("-" for stdin); used for the project name.', default: 'compose.yaml' }),
    project: Flags.string({ char: 'p', description: "Project name (default: the file's name:, else its directory name)." }),
    force: Flags.boolean({ description: 'Disconnect attached workloads and remove the networks anyway.', default: false }),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetComposeDown);
    const p = loadComposeFile(flags.file, flags.project);
    const r = await composeService(this.app).down(p, flags.force);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], r);
    this.print(r.changes.length === 0 ? `project ${r.project}: no networks to remove` : r.changes.map((c) => `project ${r.project}: ${c}`).join('\n'));
  }
}
