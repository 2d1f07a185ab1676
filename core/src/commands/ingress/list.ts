import { VoltCommand, outputFlag } from '../../cli/base-command';
import type { Column } from '../../output/render';
import { IngressService, type IngressRouteView } from '../../services/ingress/ingress-service';

export function routeSummary(r: IngressRouteView): string {
  const where = `${r.hostname}${r.path === '/' ? '' : r.path}`;
  const to = r.backends.map((b, i) => (r.resolved[i] === '-' || r.resolved[i] === b ? b : `${b} (${r.resolved[i]})`)).join(', ');
  return `${r.name}: ${where} → ${to}${r.tls === 'none' ? '' : ` [tls ${r.tls}]`}`;
}

export const routeColumns: Column<IngressRouteView>[] = [
  { header: 'NAME', get: (r) => r.name },
  { header: 'HOSTNAME', get: (r) => r.hostname },
  { header: 'PATH', get: (r) => (r.stripPath ? `${r.path} (stripped)` : r.path) },
  { header: 'BACKEND', get: (r) => r.backends.join(',') },
  { header: 'ADDRESS', get: (r) => r.resolved.join(',') },
  { header: 'TLS', get: (r) => r.tls },
  { header: 'TIMEOUT', get: (r) => `${r.timeoutSeconds}s` },
];

export default class IngressList extends VoltCommand {
  static override summary = 'List ingress routes with the addresses their backends resolve to now.';
  static override examples = ['<%= config.bin %> ingress list', '<%= config.bin %> ingress list -o json'];
  static override flags = { output: outputFlag() };

  async run(): Promise<void> {
    const { flags } = await this.parse(IngressList);
    const svc = new IngressService({ store: this.app.store, paths: this.app.paths, cwd: process.cwd() });
    this.printList(flags.output, routeColumns, svc.list());
  }
}
