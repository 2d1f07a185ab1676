import { VoltCommand, outputFlag } from '../../../cli/base-command';
import { table } from '../../../output/render';
import { TuneService } from '../../../services/tune/tune-service';
import { sysctlColumns } from '../sysctl/list';

export default class TuneNetShow extends VoltCommand {
  static override summary = 'Show network tuning: buffers, backlogs, forwarding, what volt set, and drift.';
  static override description = `Lists the network sysctls that matter for throughput and forwarding (socket and TCP buffers, somaxconn, netdev_max_backlog, ip_forward, …) and every key volt manages: the live value in this network namespace, the value volt set (VOLT), the value from before volt (BEFORE VOLT), and STATUS ok / drift / missing / unmanaged. Drift also covers <root>/etc/sysctl.d/90-volt.conf disagreeing with volt's record. \`volt net up\` repairs drift.`;
  static override examples = ['<%= config.bin %> tune net show', '<%= config.bin %> tune net show -o json'];
  static override flags = { output: outputFlag(['table', 'json', 'yaml']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(TuneNetShow);
    const view = new TuneService({ paths: this.app.paths, warn: this.app.host.warn }).show();
    if (flags.output !== 'table') return this.printList(flags.output, [], [], view);
    const out = [table(sysctlColumns, view.settings), ''];
    out.push(`Persisted in: ${view.file}${view.settings.some((s) => s.managed !== undefined) ? '' : ' (nothing yet)'}`);
    if (view.namespace === 'non-root') out.push('Namespace: not the root network namespace (machine-global keys are not visible here)');
    out.push(view.drift.length === 0 ? 'Drift: none' : `Drift:\n${view.drift.map((d) => `  - ${d}`).join('\n')}`);
    this.print(out.join('\n'));
  }
}
