import { Flags } from '@oclif/core';
import * as fs from 'node:fs';
import { VoltCommand } from '../../../cli/base-command';
import { UserInputError } from '../../../errors';
import { parseRuleFile } from '../../../services/firewall-service';

export default class NetFirewallApply extends VoltCommand {
  static override summary = 'Replace all user firewall rules with those in a YAML or JSON file, in one atomic change.';
  static override description = `The file lists the rules in evaluation order:

  rules:
    - { name: allow-http, source: any, dest: web, port: 80,443, proto: tcp, action: accept }
    - { name: block-ssh, dest: web, port: 22, proto: tcp, action: drop }

Every rule is validated before anything changes. The new rules are in place before the old ones go: there is no moment with neither. This is the way to load thousands of rules (one call, one kernel transaction). An empty list removes every rule, like \`volt net firewall flush\`.`;
  static override examples = ['<%= config.bin %> net firewall apply -f rules.yaml', 'generate-rules | <%= config.bin %> net firewall apply -f -'];
  static override flags = { file: Flags.string({ char: 'f', description: 'YAML or JSON file ("-" for stdin).', required: true }) };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetFirewallApply);
    let text: string;
    try {
      text = fs.readFileSync(flags.file === '-' ? 0 : flags.file, 'utf8');
    } catch (e: unknown) {
      throw new UserInputError(`read ${flags.file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { code: 'E_FILE_UNREADABLE' });
    }
    const source = flags.file === '-' ? 'stdin' : flags.file;
    const { count, notes } = await (await this.app.firewallRules()).replace(parseRuleFile(text, source), source);
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    this.print(`applied ${count} firewall rule${count === 1 ? '' : 's'} from ${source}`);
  }
}
