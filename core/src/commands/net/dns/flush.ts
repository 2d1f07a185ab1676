import { VoltCommand, outputFlag } from '../../../cli/base-command';
import { DriverError } from '@volt/sdk';
import { askDns } from '../../../services/dns/dns-control';

export default class NetDnsFlush extends VoltCommand {
  static override summary = 'Empty the cache of forwarded answers in the running volt-dns.';
  static override description = `Workload names are never cached (they are answered from state); this drops what was learnt from the upstream servers. If volt-dns is not running there is no cache, and the command says so (exit 0).`;
  static override examples = ['<%= config.bin %> net dns flush', '<%= config.bin %> net dns flush -o json'];
  static override flags = { output: outputFlag(['table', 'json']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetDnsFlush);
    const answer = await askDns(this.app.paths, { op: 'flush' });
    if (!answer.running) {
      if (flags.output === 'json') return this.print(JSON.stringify({ running: false, flushed: 0 }, null, 2));
      return this.print(`volt-dns is not running (no service on ${answer.socket}): there is no cache to flush`);
    }
    const r = answer.reply;
    if (!r.ok || r.op !== 'flush') {
      throw new DriverError(`flush the volt-dns cache: ${r.ok ? 'unexpected reply' : r.error}`, { code: 'E_DNS_CONTROL' });
    }
    if (flags.output === 'json') return this.print(JSON.stringify({ running: true, flushed: r.flushed }, null, 2));
    this.print(`flushed the volt-dns cache: ${r.flushed} entr${r.flushed === 1 ? 'y' : 'ies'} dropped`);
  }
}
