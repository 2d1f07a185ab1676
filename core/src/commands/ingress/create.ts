import { Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../cli/base-command';
import { IngressService } from '../../services/ingress/ingress-service';
import { routeSummary } from './list';

export default class IngressCreate extends VoltCommand {
  static override summary = 'Route external HTTP/HTTPS traffic for a hostname (and path prefix) to workloads.';
  static override description = `Requests are matched by Host header (and SNI for TLS) and the longest path prefix, and forwarded with X-Forwarded-For/-Proto/-Host; the path is forwarded unchanged unless --strip-path. A backend named by workload follows the workload's current address (reconnects included); give --backend more than once to spread requests over several, with unhealthy ones taken out.

TLS: auto (ACME HTTP-01 through the proxy's port 80, renewed ahead of expiry), manual (--cert/--key, checked now and read again on every reload), passthrough (the TLS stream goes to the backend chosen by SNI, untouched). Plain HTTP to a TLS route is redirected to HTTPS.

A running proxy applies the route before this command returns.`;
  static override examples = [
    '<%= config.bin %> ingress create --name web --hostname app.example.com --backend web:8080',
    '<%= config.bin %> ingress create --name api --hostname api.example.com --path /v1 --backend api:3000 --timeout 60',
    '<%= config.bin %> ingress create --name secure-web --hostname app.example.com --backend web:8080 --tls auto',
    '<%= config.bin %> ingress create --name cdn --hostname cdn.example.com --backend static:80 --tls manual --cert /etc/certs/cdn.pem --key /etc/certs/cdn.key',
    '<%= config.bin %> ingress create --name db-ui --hostname db.example.com --backend dbui:443 --tls passthrough',
    '<%= config.bin %> ingress create --name web6 --hostname v6.example.com --backend web:8080 --family 6',
  ];
  static override flags = {
    name: Flags.string({ description: 'Route name.', required: true }),
    hostname: Flags.string({ description: 'Host name to match (Host header, SNI); *.example.com for one label below.', required: true }),
    path: Flags.string({ description: 'Path prefix to match (default /); the longest matching prefix wins.' }),
    backend: Flags.string({ description: 'WORKLOAD:PORT (or ADDRESS:PORT); repeat for several.', required: true, multiple: true }),
    tls: Flags.string({ description: 'TLS mode: none, auto (ACME), manual (--cert/--key), passthrough.', default: 'none' }),
    cert: Flags.string({ description: 'tls manual: certificate (chain) file, PEM.' }),
    key: Flags.string({ description: 'tls manual: private key file, PEM.' }),
    timeout: Flags.string({ description: 'Backend timeout in seconds: connect + response headers (default 30).' }),
    'strip-path': Flags.boolean({ description: 'Remove the --path prefix before forwarding.', default: false }),
    family: Flags.string({ description: 'Address family of workload backends: 4 or 6 (default: IPv4, IPv6 for a workload that has only that).', options: ['4', '6'] }),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(IngressCreate);
    const svc = new IngressService({ store: this.app.store, paths: this.app.paths, cwd: process.cwd() });
    const { route, notes } = await svc.create({
      name: flags.name,
      hostname: flags.hostname,
      path: flags.path,
      backends: flags.backend,
      tls: flags.tls,
      cert: flags.cert,
      key: flags.key,
      timeout: flags.timeout,
      stripPath: flags['strip-path'],
      family: flags.family,
    });
    // The first route: volt-ingress.service, installed by `volt init`, is enabled (and started where systemd runs).
    const units = await import('../../services/host/host-units');
    const dir = units.defaultUnitDir(this.app.paths);
    try {
      if (units.enableInstalled(dir, 'volt-ingress.service') === 'enabled') {
        if (units.systemdReads(dir)) {
          const { runChecked } = await import('@volt/sdk/kernel');
          await runChecked('start volt-ingress.service', 'systemctl', ['start', 'volt-ingress.service']);
          notes.push('enabled and started volt-ingress.service (the first ingress route)');
        } else notes.push(`enabled volt-ingress.service in ${dir} (the first ingress route); it starts with the host, or now with \`volt ingress serve\``);
      }
    } catch (e: unknown) {
      notes.push(`could not enable volt-ingress.service: ${(e as Error).message}; enable it with \`volt init\` or systemctl enable --now volt-ingress.service`);
    }
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], route);
    this.print(`created route ${routeSummary(route)}`);
  }
}
