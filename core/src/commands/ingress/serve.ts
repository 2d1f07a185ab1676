import { Flags } from '@oclif/core';
import { VoltCommand } from '../../cli/base-command';
import type { IngressDriver } from '../../drivers/ingress';
import { IngressServer } from '../../services/ingress-serve';
import { LETS_ENCRYPT_DIRECTORY, proxySpecFrom } from '../../services/ingress-settings';

export default class IngressServe extends VoltCommand {
  static override summary = 'Run the ingress proxy in the foreground (what volt-ingress.service runs).';
  static override description = `Listens on --http-port and --https-port, serves the routes in state and follows every change (create/delete, workload reconnects, \`volt ingress reload\`, SIGHUP) without a restart. SIGTERM or SIGINT stop accepting and let requests in flight finish (--drain-timeout).

Each setting can also come from the environment (VOLT_INGRESS_HTTP_PORT, VOLT_ACME_DIRECTORY, …; see --help), which is how volt-ingress.service reads /etc/volt/ingress.env.`;
  static override examples = [
    '<%= config.bin %> ingress serve',
    '<%= config.bin %> ingress serve --http-port 8080 --https-port 8443',
    '<%= config.bin %> ingress serve --acme-directory https://acme-staging-v02.api.letsencrypt.org/directory --acme-email ops@example.com',
  ];
  static override flags = {
    'http-port': Flags.integer({ description: 'HTTP port (ACME HTTP-01 challenges arrive here).', default: 80, env: 'VOLT_INGRESS_HTTP_PORT' }),
    'https-port': Flags.integer({ description: 'HTTPS port (TLS termination and passthrough).', default: 443, env: 'VOLT_INGRESS_HTTPS_PORT' }),
    address: Flags.string({ description: 'Address to listen on.', default: '0.0.0.0', env: 'VOLT_INGRESS_ADDRESS' }),
    workers: Flags.integer({ description: 'Worker processes sharing the listeners (default: one per CPU).', env: 'VOLT_INGRESS_WORKERS' }),
    'acme-directory': Flags.string({ description: 'ACME directory URL.', default: LETS_ENCRYPT_DIRECTORY, env: 'VOLT_ACME_DIRECTORY' }),
    'acme-email': Flags.string({ description: 'Contact e-mail for the ACME account.', env: 'VOLT_ACME_EMAIL' }),
    'acme-ca': Flags.string({ description: 'Extra CA certificate (PEM) to trust for the ACME server (a private CA, pebble).', env: 'VOLT_ACME_CA' }),
    'acme-renew-before': Flags.string({ description: 'Renew certificates this many seconds before expiry (at most a third of their lifetime).', default: '2592000', env: 'VOLT_ACME_RENEW_BEFORE' }),
    'max-connections': Flags.integer({ description: 'Concurrent client connections (HTTP + HTTPS).', default: 10000, env: 'VOLT_INGRESS_MAX_CONNECTIONS' }),
    'max-header-size': Flags.integer({ description: 'Request line + headers, bytes (431 beyond).', default: 16384, env: 'VOLT_INGRESS_MAX_HEADER_SIZE' }),
    'max-headers': Flags.integer({ description: 'Header fields per request (431 beyond).', default: 100, env: 'VOLT_INGRESS_MAX_HEADERS' }),
    'header-timeout': Flags.string({ description: 'Seconds a client has to send its headers (slow clients get 408).', default: '10', env: 'VOLT_INGRESS_HEADER_TIMEOUT' }),
    'request-timeout': Flags.string({ description: 'Seconds a client has to send a whole request, body included.', default: '60', env: 'VOLT_INGRESS_REQUEST_TIMEOUT' }),
    'idle-timeout': Flags.string({ description: 'Seconds an idle keep-alive connection is kept.', default: '5', env: 'VOLT_INGRESS_IDLE_TIMEOUT' }),
    'health-interval': Flags.string({ description: 'Seconds between health probes of each backend.', default: '5', env: 'VOLT_INGRESS_HEALTH_INTERVAL' }),
    'health-timeout': Flags.string({ description: 'Seconds a health probe may take.', default: '2', env: 'VOLT_INGRESS_HEALTH_TIMEOUT' }),
    'health-failures': Flags.integer({ description: 'Consecutive failed probes that take a backend out of routing.', default: 2, env: 'VOLT_INGRESS_HEALTH_FAILURES' }),
    'drain-timeout': Flags.string({ description: 'Seconds requests in flight get to finish on stop.', default: '30', env: 'VOLT_INGRESS_DRAIN_TIMEOUT' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(IngressServe);
    const spec = proxySpecFrom(
      {
        httpPort: flags['http-port'],
        httpsPort: flags['https-port'],
        address: flags.address,
        workers: flags.workers,
        acmeDirectory: flags['acme-directory'],
        acmeEmail: flags['acme-email'],
        acmeCa: flags['acme-ca'],
        acmeRenewBefore: flags['acme-renew-before'],
        maxConnections: flags['max-connections'],
        maxHeaderSize: flags['max-header-size'],
        maxHeaders: flags['max-headers'],
        headerTimeout: flags['header-timeout'],
        requestTimeout: flags['request-timeout'],
        idleTimeout: flags['idle-timeout'],
        healthInterval: flags['health-interval'],
        healthTimeout: flags['health-timeout'],
        healthFailures: flags['health-failures'],
        drainTimeout: flags['drain-timeout'],
      },
      this.app.paths,
      process.cwd(),
    );
    const driver = await (await this.app.registry()).get<IngressDriver>('ingress');
    const server = new IngressServer({
      store: this.app.store,
      paths: this.app.paths,
      driver,
      spec,
      log: (m) => process.stderr.write(`volt ingress: ${m}\n`),
      ready: (listeners, routes) => {
        const l = listeners.map((x) => `${x.protocol} on ${x.address.includes(':') ? `[${x.address}]` : x.address}:${x.port}`).join(', ');
        this.print(`volt ingress: serving ${l} (${spec.workers} worker${spec.workers === 1 ? '' : 's'}, ${routes} route${routes === 1 ? '' : 's'})`);
      },
    });
    await server.run();
    this.print('volt ingress: stopped');
  }
}
