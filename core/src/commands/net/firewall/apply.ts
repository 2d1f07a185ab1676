import { Flags } from '@oclif/core';
import { VoltCommand } from '../../../cli/base-command';
import { readInputFile } from '../../../cli/input-file';
import { parseRuleFile } from '../../../services/firewall/firewall-service';

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
    const { text, source } = readInputFile(flags.file);
    const { count, notes } = await (await this.app.firewallRules()).replace(parseRuleFile(text, source), source);
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    this.print(`applied ${count} firewall rule${count === 1 ? '' : 's'} from ${source}`);
  }
}
