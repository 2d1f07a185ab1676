import { Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../cli/base-command';
import { IngressService } from '../../services/ingress/ingress-service';
import { routeSummary } from './list';

export default class IngressDelete extends VoltCommand {
  static override summary = 'Delete an ingress route; a running proxy stops routing it at once (requests in flight finish).';
  static override examples = ['<%= config.bin %> ingress delete --name web'];
  static override flags = {
    name: Flags.string({ description: 'Route name.', required: true }),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(IngressDelete);
    const svc = new IngressService({ store: this.app.store, paths: this.app.paths, cwd: process.cwd() });
    const { route, notes } = await svc.delete(flags.name);
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], route);
    this.print(`deleted route ${routeSummary(route)}`);
  }
}
