import { Args } from '@oclif/core';
import { VoltCommand } from '../../cli/base-command';

export default class ContainerUnregister extends VoltCommand {
  static override summary = 'Forget a registered container (it is disconnected from its networks first).';
  static override examples = ['<%= config.bin %> container unregister worker'];
  static override args = { name: Args.string({ description: 'Container name.', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(ContainerUnregister);
    await (await this.app.workloads()).unregister(args.name);
    this.print(`unregistered container ${args.name}`);
  }
}
