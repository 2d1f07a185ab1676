import * as fs from 'node:fs';
import { Args } from '@oclif/core';
import { VoltCommand } from '../../cli/base-command';
import { parseConfig } from '../../config/load';
import { ConfigError, UserInputError } from '@volt/sdk';

export default class ConfigValidate extends VoltCommand {
  static override summary = 'Validate a config file (default: <root>/etc/volt/config.yaml).';
  static override description = 'Checks YAML syntax, every key and type, addresses, and that configured driver names are installed. Errors name file:line:column and the key.';
  static override examples = ['<%= config.bin %> config validate', '<%= config.bin %> config validate ./config.yaml'];
  static override args = { file: Args.string({ description: 'Config file to validate.' }) };

  async run(): Promise<void> {
    const { args } = await this.parse(ConfigValidate);
    const file = args.file ?? this.app.paths.configFile;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e: unknown) {
      throw new UserInputError(`validate ${file}: ${(e as Error).message}`, { code: 'E_FILE_UNREADABLE' });
    }
    const cfg = parseConfig(text, file, {
      warn: (m) => process.stderr.write(`warning: ${m}\n`),
      notice: (m) => {
        if (this.verboseMode) process.stderr.write(`note: ${m}\n`);
      },
    });
    const registry = await this.app.registry();
    const unknown = registry.unknownNames(cfg.drivers);
    if (unknown.length > 0) {
      throw new ConfigError(`${file}: unknown driver ${unknown.join('; ')}`, {
        code: 'E_DRIVER_UNKNOWN',
        suggestions: ['run `volt driver list` to see installed drivers'],
      });
    }
    this.print(`${file}: valid`);
  }
}
