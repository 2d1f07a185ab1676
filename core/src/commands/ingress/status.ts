import { VoltCommand, outputFlag } from '../../cli/base-command';
import { table } from '../../output/render';
import { IngressService, type IngressStatusView } from '../../services/ingress/ingress-service';

export default class IngressStatus extends VoltCommand {
  static override summary = 'Show the proxy: listeners, connections, routes with backend health, certificates with expiry.';
  static override examples = ['<%= config.bin %> ingress status', '<%= config.bin %> ingress status -o json'];
  static override flags = { output: outputFlag() };

  async run(): Promise<void> {
    const { flags } = await this.parse(IngressStatus);
    const svc = new IngressService({ store: this.app.store, paths: this.app.paths, cwd: process.cwd() });
    const s = await svc.status();
    if (flags.output !== 'table') return this.printList(flags.output, [], [], s);
    this.print(render(s));
  }
}

function render(s: IngressStatusView): string {
  const out: string[] = [];
  const p = s.proxy;
  if (!p.running) out.push('proxy: not running (start it: systemctl start volt-ingress.service, or volt ingress serve)');
  else {
    const l = p.listeners.map((x) => `${x.protocol} ${x.address.includes(':') ? `[${x.address}]` : x.address}:${x.port}`).join(', ');
    const serving = p.workers.filter((w) => w.draining !== true);
    const draining = p.workers.filter((w) => w.draining === true);
    const n = serving.length;
    const worker = (w: (typeof p.workers)[number]): string => `pid ${w.pid}: ${w.connections} conn, ${w.requests} req`;
    out.push(`proxy: running, pid ${p.pid}, since ${p.startedAt}, driver ${p.driver}, ${n} worker${n === 1 ? '' : 's'} (${serving.map(worker).join('; ')})`);
    if (draining.length > 0) out.push(`draining: ${draining.length} worker${draining.length === 1 ? '' : 's'} of an earlier generation (${draining.map(worker).join('; ')})`);
    out.push(`listening: ${l}`);
    const cap = p.maxConnections !== undefined ? ` (of at most ${p.maxConnections})` : '';
    out.push(`connections: ${p.activeConnections} active${cap}; routing table generation ${p.generation}${p.appliedAt ? ` (applied ${p.appliedAt})` : ''}`);
  }
  out.push('');
  if (s.routes.length === 0) out.push('routes: (none)');
  else
    out.push(
      table(
        [
          { header: 'ROUTE', get: (r: IngressStatusView['routes'][number]) => r.name },
          { header: 'HOSTNAME', get: (r) => r.hostname },
          { header: 'PATH', get: (r) => r.path },
          { header: 'TLS', get: (r) => r.tls },
          { header: 'BACKEND', get: (r) => r.backends.map((b, i) => (r.resolved[i] === '-' ? b : `${b}=${r.resolved[i]}`)).join(',') },
          { header: 'HEALTH', get: (r) => r.health },
        ],
        s.routes,
      ),
    );
  if (s.backends.length > 0) {
    out.push('');
    out.push(
      table(
        [
          { header: 'BACKEND', get: (b: IngressStatusView['backends'][number]) => b.key },
          { header: 'TARGET', get: (b) => b.target },
          { header: 'STATE', get: (b) => b.state },
          { header: 'SINCE', get: (b) => b.since },
          { header: 'CHECKED', get: (b) => b.checkedAt },
          { header: 'ERROR', get: (b) => b.error },
        ],
        s.backends,
      ),
    );
  }
  if (s.certificates.length > 0) {
    out.push('');
    out.push(
      table(
        [
          { header: 'CERTIFICATE', get: (c: IngressStatusView['certificates'][number]) => c.hostname },
          { header: 'SOURCE', get: (c) => c.source },
          { header: 'STATE', get: (c) => c.state },
          { header: 'EXPIRES', get: (c) => c.notAfter },
          { header: 'RENEW', get: (c) => c.renewAt ?? c.retryAt },
          { header: 'ERROR', get: (c) => c.error },
        ],
        s.certificates,
      ),
    );
  }
  for (const pr of s.problems) out.push(`warning: ${pr}`);
  return out.join('\n');
}
