import { Flags } from '@oclif/core';
import { VoltCommand } from '../../cli/base-command';
import type { IngressDriver } from '@volt/sdk';
import { IngressServer } from '../../services/ingress/ingress-serve';
import { loadConfig } from '../../config/load';
import { LETS_ENCRYPT_DIRECTORY, proxySpecFrom, type ServeInput } from '../../services/ingress/ingress-settings';

export default class IngressServe extends VoltCommand {
  static override summary = 'Run the ingress proxy in the foreground (what volt-ingress.service runs).';
  static override description = `Listens on the HTTP and HTTPS ports, serves the routes in state and follows every change (create/delete, workload reconnects, \`volt ingress reload\`, SIGHUP) without a restart. SIGTERM or SIGINT stop accepting and let requests in flight finish (--drain-timeout).

When volt's host firewall drops new inbound connections (network.firewall.host_input: drop, the default) and network.firewall.host_allow does not list a port the proxy listens on (other than on loopback), the proxy adds an accept rule for it (ingress-tcp-PORT, after your own rules) once its listeners are bound and removes it when it stops, and says so; --no-open-ports leaves the firewall alone and prints the command that opens them.

Every setting comes from, in order: the flag, its environment variable (VOLT_INGRESS_HTTP_PORT, VOLT_ACME_DIRECTORY, …; see --help), the \`ingress:\` section of config.yaml, the default. \`volt ingress reload\` reads config.yaml again: new ports are bound before the old listeners close and drain; unchanged listeners are not touched. A flag or variable pins its setting for the life of the process.`;
  static override examples = [
    '<%= config.bin %> ingress serve',
    '<%= config.bin %> ingress serve --http-port 8080 --https-port 8443',
    '<%= config.bin %> ingress serve --acme-directory https://acme-staging-v02.api.letsencrypt.org/directory --acme-email ops@example.com',
  ];
  // No defaults here: an unset flag falls through to config.yaml, then to the defaults (config/defaults.ts).
  static override flags = {
    'http-port': Flags.integer({ description: 'HTTP port (ACME HTTP-01 challenges arrive here). [ingress.http_port, 80]', env: 'VOLT_INGRESS_HTTP_PORT' }),
    'https-port': Flags.integer({ description: 'HTTPS port (TLS termination and passthrough). [ingress.https_port, 443]', env: 'VOLT_INGRESS_HTTPS_PORT' }),
    address: Flags.string({ description: 'Address to listen on. [ingress.address, 0.0.0.0]', env: 'VOLT_INGRESS_ADDRESS' }),
    workers: Flags.integer({ description: 'Worker processes. [ingress.workers, auto: one per CPU]', env: 'VOLT_INGRESS_WORKERS' }),
    'acme-directory': Flags.string({ description: `ACME directory URL. [ingress.acme.directory_url, ${LETS_ENCRYPT_DIRECTORY}]`, env: 'VOLT_ACME_DIRECTORY' }),
    'acme-email': Flags.string({ description: 'Contact e-mail for the ACME account. [ingress.acme.email]', env: 'VOLT_ACME_EMAIL' }),
    'acme-ca': Flags.string({ description: 'Extra CA certificate (PEM) to trust for the ACME server (a private CA, pebble). [ingress.acme.ca]', env: 'VOLT_ACME_CA' }),
    'acme-renew-before': Flags.string({ description: 'Renew certificates this many seconds before expiry (at most a third of their lifetime). [ingress.acme.renew_before, 2592000]', env: 'VOLT_ACME_RENEW_BEFORE' }),
    'acme-retry-min': Flags.string({ description: 'Seconds before the first retry of a failed ACME order; doubles per failure. [ingress.acme.retry_min, 30]', env: 'VOLT_ACME_RETRY_MIN' }),
    'acme-retry-max': Flags.string({ description: 'Longest wait between ACME retries, seconds. [ingress.acme.retry_max, 3600]', env: 'VOLT_ACME_RETRY_MAX' }),
    'max-connections': Flags.integer({ description: 'Concurrent client connections (HTTP + HTTPS, all workers together). [ingress.max_connections, 10000]', env: 'VOLT_INGRESS_MAX_CONNECTIONS' }),
    'max-header-size': Flags.integer({ description: 'Request line + headers, bytes (431 beyond). [ingress.max_header_size, 16384]', env: 'VOLT_INGRESS_MAX_HEADER_SIZE' }),
    'max-headers': Flags.integer({ description: 'Header fields per request (431 beyond). [ingress.max_headers, 100]', env: 'VOLT_INGRESS_MAX_HEADERS' }),
    'header-timeout': Flags.string({ description: 'Seconds a client has to send its headers (slow clients get 408). [ingress.header_timeout, 10]', env: 'VOLT_INGRESS_HEADER_TIMEOUT' }),
    'request-timeout': Flags.string({ description: 'Seconds a client has to send a whole request, body included. [ingress.request_timeout, 60]', env: 'VOLT_INGRESS_REQUEST_TIMEOUT' }),
    'idle-timeout': Flags.string({ description: 'Seconds an idle keep-alive connection is kept. [ingress.idle_timeout, 5]', env: 'VOLT_INGRESS_IDLE_TIMEOUT' }),
    'health-interval': Flags.string({ description: 'Seconds between health probes of each backend. [ingress.health.interval, 5]', env: 'VOLT_INGRESS_HEALTH_INTERVAL' }),
    'health-timeout': Flags.string({ description: 'Seconds a health probe may take. [ingress.health.timeout, 2]', env: 'VOLT_INGRESS_HEALTH_TIMEOUT' }),
    'health-failures': Flags.integer({ description: 'Consecutive failed probes that take a backend out of routing. [ingress.health.failures, 2]', env: 'VOLT_INGRESS_HEALTH_FAILURES' }),
    'open-ports': Flags.boolean({
      description: "Open the proxy's ports in volt's host firewall while it serves (when network.firewall.host_input is drop and host_allow does not list them); --no-open-ports only warns.",
      default: true,
      allowNo: true,
    }),
    'drain-timeout': Flags.string({ description: 'Seconds requests in flight get to finish on stop (and old listeners on a port change). [ingress.drain_timeout, 30]', env: 'VOLT_INGRESS_DRAIN_TIMEOUT' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(IngressServe);
    const input: ServeInput = {
      httpPort: flags['http-port'],
      httpsPort: flags['https-port'],
      address: flags.address,
      workers: flags.workers,
      acmeDirectory: flags['acme-directory'],
      acmeEmail: flags['acme-email'],
      acmeCa: flags['acme-ca'],
      acmeRenewBefore: flags['acme-renew-before'],
      acmeRetryMin: flags['acme-retry-min'],
      acmeRetryMax: flags['acme-retry-max'],
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
    };
    const paths = this.app.paths;
    const cwd = process.cwd();
    const spec = proxySpecFrom(input, this.app.config.ingress, paths, cwd);
    const driver = await (await this.app.registry()).get<IngressDriver>('ingress');
    const server = new IngressServer({
      store: this.app.store,
      paths: this.app.paths,
      driver,
      spec,
      // A reload reads config.yaml again (a bad file fails the reload and changes nothing).
      respec: () => proxySpecFrom(input, loadConfig(paths.configFile).ingress, paths, cwd),
      log: (m) => process.stderr.write(`volt ingress: ${m}\n`),
      expose: async (listeners) => {
        const { exposeListeners } = await import('../../services/ingress/ingress-firewall');
        return exposeListeners(
          { config: this.app.config, store: this.app.store, firewall: () => this.app.firewallRules(), say: (m) => this.print(m) },
          listeners,
          flags['open-ports'],
        );
      },
      ready: (listeners, routes) => {
        const l = listeners.map((x) => `${x.protocol} on ${x.address.includes(':') ? `[${x.address}]` : x.address}:${x.port}`).join(', ');
        this.print(`volt ingress: serving ${l} (${spec.workers} worker${spec.workers === 1 ? '' : 's'}, ${routes} route${routes === 1 ? '' : 's'})`);
      },
    });
    await server.run();
    this.print('volt ingress: stopped');
  }
}
