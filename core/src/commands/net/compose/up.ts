import { Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../../cli/base-command';
import { composeService, loadComposeFile } from '../../../services/compose/compose-load';

export default class NetComposeUp extends VoltCommand {
  static override summary = "Create a Compose file's networks and connect its services' containers.";
  static override description = `Reads the top-level \`networks:\` and \`services.*.networks\` of a Compose file (everything else is ignored). Each network becomes the volt network PROJECT_KEY (or its \`name:\`), labelled with the project; \`external: true\` networks must already exist. Each service whose container exists (a registered container, a named network namespace or an nspawn machine called SERVICE, PROJECT-SERVICE-1 or PROJECT_SERVICE_1, or its container_name) is connected with its ipv4_address, and volt-dns answers for the service name and its aliases on that network. Running it again changes nothing. See docs/compose.md.`;
  static override examples = ['<%= config.bin %> net compose up -f compose.yaml', '<%= config.bin %> net compose up -f stack/compose.yaml -p shop'];
  static override flags = {
    file: Flags.string({ char: 'f', description: 'Compose file ("-" for stdin).', default: 'compose.yaml' }),
    project: Flags.string({ char: 'p', description: "Project name (default: the file's name:, else its directory name)." }),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetComposeUp);
    const p = loadComposeFile(flags.file, flags.project);
    const r = await composeService(this.app).up(p);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], r);
    for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
    this.print(r.changes.length === 0 ? `project ${r.project}: nothing to do (networks and connections are as the file says)` : r.changes.map((c) => `project ${r.project}: ${c}`).join('\n'));
  }
}
