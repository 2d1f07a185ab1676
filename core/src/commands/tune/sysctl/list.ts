import { VoltCommand, outputFlag } from '../../../cli/base-command';
import { table, type Column } from '../../../output/render';
import { TuneService, type SysctlView } from '../../../services/tune/tune-service';

export const sysctlColumns: Column<SysctlView>[] = [
  { header: 'KEY', get: (v) => v.key },
  { header: 'LIVE', get: (v) => v.live },
  { header: 'VOLT', get: (v) => v.managed },
  { header: 'BEFORE VOLT', get: (v) => v.previous },
  { header: 'STATUS', get: (v) => v.status },
  { header: 'NOTE', get: (v) => v.note },
];

export default class TuneSysctlList extends VoltCommand {
  static override summary = 'List the sysctls volt manages, their live values and any drift.';
  static override description = `LIVE is the kernel's value in this network namespace, VOLT the value volt set and persisted, BEFORE VOLT the value the key had before volt first set it (restored by \`volt tune sysctl unset\`). STATUS is ok, drift (someone changed it: \`volt net up\` sets it back) or missing (the key is not present here).`;
  static override examples = ['<%= config.bin %> tune sysctl list', '<%= config.bin %> tune sysctl list -o json'];
  static override flags = { output: outputFlag(['table', 'json', 'yaml']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(TuneSysctlList);
    const view = new TuneService({ paths: this.app.paths, warn: this.app.host.warn }).list();
    if (flags.output !== 'table') return this.printList(flags.output, [], [], view);
    if (view.settings.length === 0 && view.drift.length === 0) return this.print('volt manages no sysctls: set one with `volt tune sysctl set KEY VALUE`');
    const out = [view.settings.length === 0 ? '(none)' : table(sysctlColumns, view.settings)];
    if (view.drift.length > 0) out.push('', 'Drift:', ...view.drift.map((d) => `  - ${d}`));
    this.print(out.join('\n'));
  }
}
