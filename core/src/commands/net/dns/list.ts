import { Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../../cli/base-command';
import type { DnsRecord } from '@volt/sdk';
import { NotFoundError } from '@volt/sdk';
import type { Column } from '../../../output/render';
import { askDns } from '../../../services/dns/dns-control';
import { dnsRecords } from '../../../services/dns/dns-records';

export const dnsColumns: Column<DnsRecord>[] = [
  { header: 'NAME', get: (r) => r.name },
  { header: 'TYPE', get: (r) => r.type },
  { header: 'VALUE', get: (r) => r.value },
  { header: 'NETWORK', get: (r) => r.network },
];

export default class NetDnsList extends VoltCommand {
  static override summary = 'List the names volt-dns serves, per network.';
  static override description = `Read from desired state: each workload on a network answers as NAME and NAME.<search domain> (A) and by address (PTR), to clients of that network only. In table mode a note on stderr says when the volt-dns service is not running or is disabled.`;
  static override examples = ['<%= config.bin %> net dns list', '<%= config.bin %> net dns list --network backend -o json'];
  static override flags = {
    network: Flags.string({ description: 'Only this network.' }),
    output: outputFlag(),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetDnsList);
    const state = this.app.store.read();
    if (flags.network !== undefined && !state.networks[flags.network]) {
      throw new NotFoundError(`list DNS names: network "${flags.network}" does not exist`, {
        code: 'E_NETWORK_NOT_FOUND',
        suggestions: [`known networks: ${Object.keys(state.networks).join(', ') || 'none'}`],
      });
    }
    const config = this.app.config;
    const rows = dnsRecords(state, config).filter((r) => flags.network === undefined || r.network === flags.network);
    this.printList(flags.output, dnsColumns, rows);
    if (flags.output !== 'table') return;
    // The spec's first troubleshooting step is this command: say when nothing is serving these names.
    if (!config.network.dns.enabled) {
      process.stderr.write(`note: volt-dns is disabled (network.dns.enabled: false in ${this.app.paths.configFile})\n`);
      return;
    }
    const answer = await askDns(this.app.paths, { op: 'status' }).catch(() => undefined);
    if (answer !== undefined && !answer.running) {
      process.stderr.write('note: volt-dns is not running; start it with `systemctl start volt-dns` (or `volt dns serve`)\n');
    } else if (answer?.running && answer.reply.ok && answer.reply.op === 'status') {
      for (const l of answer.reply.status.listeners) {
        if (l.state === 'waiting') process.stderr.write(`note: volt-dns is not answering on network ${l.network}: ${l.error ?? 'waiting'}\n`);
      }
    }
  }
}
