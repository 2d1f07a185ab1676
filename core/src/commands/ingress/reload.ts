import { VoltCommand, outputFlag } from '../../cli/base-command';
import { IngressService } from '../../services/ingress/ingress-service';

export default class IngressReload extends VoltCommand {
  static override summary = 'Make the running proxy re-read config.yaml, routes and certificate files, without dropping connections.';
  static override description = `New requests use the new table at once; requests in flight finish on their old route; open WebSocket and passthrough connections are kept; connections to backends no longer routed are closed once idle.

Settings in the \`ingress:\` section of config.yaml are applied too (those not pinned by a flag of \`volt ingress serve\`): a new port or address is bound first, then the old listener stops accepting and its connections drain (drain_timeout); listeners that did not change are not touched. A bad config.yaml, or a port that cannot be bound, fails the reload (exit code ≠ 0) and leaves the proxy as it was.

Exits 3 when no proxy is running. Route changes made with create/delete are applied without it.`;
  static override examples = ['<%= config.bin %> ingress reload'];
  static override flags = { output: outputFlag(['table', 'json', 'yaml']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(IngressReload);
    const svc = new IngressService({ store: this.app.store, paths: this.app.paths, cwd: process.cwd() });
    const r = await svc.reload();
    for (const p of r.problems) process.stderr.write(`warning: ${p}\n`);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], r);
    for (const c of r.settings ?? []) this.print(`settings: ${c}`);
    this.print(`reloaded: ${r.routes} route${r.routes === 1 ? '' : 's'}, generation ${r.generation}${r.changed ? '' : ' (unchanged)'}`);
  }
}
