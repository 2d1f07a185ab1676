import { availableParallelism } from 'node:os';
import { Flags } from '@oclif/core';
import { VoltCommand } from '../../cli/base-command';
import { DNS_PORT } from '../../services/dns/dns-records';

export default class DnsServe extends VoltCommand {
  static override summary = 'Run the volt-dns resolver in the foreground (what volt-dns.service runs).';
  static override description = `Listens on every managed network's gateway address, UDP and TCP, and answers the workloads of that network: NAME and NAME.<search domain> (A), their addresses (PTR), NXDOMAIN for unknown names in the search domains; everything else is forwarded to network.dns.upstream (not for --no-nat networks) and cached as long as the answers' TTLs allow.

It follows state live: networks created or deleted, workloads connected or disconnected, VMs started or stopped are answered within a second, without a restart. Only clients from a network's own subnet are answered, on that network's gateway only.

Stops on SIGTERM or SIGINT; SIGHUP re-reads state at once. \`volt net dns flush\` empties the cache. With network.dns.enabled: false it exits at once, saying so.`;
  static override examples = ['<%= config.bin %> dns serve', '<%= config.bin %> dns serve --port 5353'];
  static override flags = {
    port: Flags.integer({ description: 'Port to listen on at every gateway (UDP and TCP).', default: DNS_PORT, min: 1, max: 65535 }),
    workers: Flags.integer({
      description: 'Extra processes answering UDP beside the main one (default: one per further CPU, at most 3; 0: one process).',
      min: 0,
      max: 16,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DnsServe);
    const config = this.app.config;
    if (!config.network.dns.enabled) {
      this.print(`volt-dns is disabled (network.dns.enabled: false in ${this.app.paths.configFile}); not serving`);
      return;
    }
    const driver = await this.app.dns();
    const { DnsServeService } = await import('../../services/dns/dns-service');
    const svc = new DnsServeService({
      paths: this.app.paths,
      config,
      store: this.app.store,
      driver,
      port: flags.port,
      workers: flags.workers ?? Math.min(3, Math.max(0, availableParallelism() - 1)),
      log: (m) => this.print(`volt-dns: ${m}`),
      warn: (m) => process.stderr.write(`volt-dns: warning: ${m}\n`),
    });
    await svc.start();
    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals): void => {
        process.off('SIGHUP', reload);
        this.print(`volt-dns: ${signal}: stopping`);
        void svc.stop().finally(resolve);
      };
      const reload = (): void => svc.reload();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      process.on('SIGHUP', reload);
    });
  }
}
