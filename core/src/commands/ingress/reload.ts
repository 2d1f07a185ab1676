import { VoltCommand, outputFlag } from '../../cli/base-command';
import { IngressService } from '../../services/ingress-service';

export default class IngressReload extends VoltCommand {
  static override summary = 'Make the running proxy re-read routes and certificate files, without dropping connections.';
  static override description = `New requests use the new table at once; requests in flight finish on their old route; open WebSocket and passthrough connections are kept; connections to backends no longer routed are closed once idle. Exits 3 when no proxy is running. Route changes made with create/delete are applied without it; this is for certificate files replaced on disk and for pipelines that want to be sure.`;
  static override examples = ['<%= config.bin %> ingress reload'];
  static override flags = { output: outputFlag(['table', 'json', 'yaml']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(IngressReload);
    const svc = new IngressService({ store: this.app.store, paths: this.app.paths, cwd: process.cwd() });
    const r = await svc.reload();
    for (const p of r.problems) process.stderr.write(`warning: ${p}\n`);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], r);
    this.print(`reloaded: ${r.routes} route${r.routes === 1 ? '' : 's'}, generation ${r.generation}${r.changed ? '' : ' (unchanged)'}`);
  }
}
