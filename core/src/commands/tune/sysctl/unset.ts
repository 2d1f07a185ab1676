import { Args, Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../../cli/base-command';
import { TuneService } from '../../../services/tune/tune-service';

export default class TuneSysctlUnset extends VoltCommand {
  static override summary = 'Stop managing a sysctl: remove it from 90-volt.conf and restore its earlier value.';
  static override description = `The live value goes back to what the key had before volt first set it, when that was recorded and the key still holds volt's value (a later change by someone else is left alone). --no-restore keeps the live value as it is.`;
  static override examples = [
    '<%= config.bin %> tune sysctl unset net.core.somaxconn',
    '<%= config.bin %> tune sysctl unset net.ipv4.ip_forward --no-restore',
  ];
  static override args = { key: Args.string({ description: 'A sysctl volt manages (see `volt tune sysctl list`).', required: true }) };
  static override flags = {
    restore: Flags.boolean({ description: 'Put back the value from before volt (--no-restore: keep the live value).', default: true, allowNo: true }),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(TuneSysctlUnset);
    const svc = new TuneService({ paths: this.app.paths, warn: this.app.host.warn });
    const r = await svc.unset(args.key, flags.restore);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], { ...r, file: svc.confFile });
    const what = r.restored !== undefined ? `restored ${r.restored}` : r.note ?? `left at ${r.live ?? r.value}`;
    this.print(`unset ${r.key}: ${what}; removed from ${svc.confFile}`);
  }
}
