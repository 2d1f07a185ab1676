import { Flags } from '@oclif/core';
import { VoltCommand } from '../../../cli/base-command';
import { readInputFile } from '../../../cli/input-file';
import { parsePolicyFile } from '../../../services/firewall/policy-service';

export default class NetPolicyApply extends VoltCommand {
  static override summary = 'Replace all network policies with those in a YAML or JSON file, in one atomic change.';
  static override description = `  policies:
    - { name: app-to-db, from: app-server, to: db-primary, port: 5432, action: allow }

Everything is validated first; the new policies are in place before the old ones go. The way to load thousands of policies in one call.`;
  static override examples = ['<%= config.bin %> net policy apply -f policies.yaml'];
  static override flags = { file: Flags.string({ char: 'f', description: 'YAML or JSON file ("-" for stdin).', required: true }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetPolicyApply);
    const { text, source } = readInputFile(flags.file);
    const { count, notes } = await (await this.app.policies()).replace(parsePolicyFile(text, source), source);
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    this.print(`applied ${count} polic${count === 1 ? 'y' : 'ies'} from ${source}`);
  }
}
