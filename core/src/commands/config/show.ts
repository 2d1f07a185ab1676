import { VoltCommand, outputFlag } from '../../cli/base-command';
import { serialize } from '../../output/render';

export default class ConfigShow extends VoltCommand {
  static override summary = 'Show the effective configuration (config.yaml over the defaults).';
  static override examples = ['<%= config.bin %> config show', '<%= config.bin %> config show -o json'];
  static override flags = { output: outputFlag(['yaml', 'json']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(ConfigShow);
    const format = flags.output === 'json' ? 'json' : 'yaml';
    this.print(`${format === 'yaml' ? `# ${this.app.paths.configFile}\n` : ''}${serialize(this.app.config, format)}`);
  }
}
