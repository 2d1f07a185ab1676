import { Args } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../../cli/base-command';
import { TuneService } from '../../../services/tune/tune-service';

export default class TuneSysctlGet extends VoltCommand {
  static override summary = 'Show the live value of sysctls in this network namespace.';
  static override description = `Prints "key = value" lines like sysctl(8). Any readable key works (not only net.*); naming a group (net.core) lists every key in it. With -o json|yaml each key also says whether volt manages it, the value volt set and the value it had before.`;
  static override examples = [
    '<%= config.bin %> tune sysctl get net.ipv4.ip_forward',
    '<%= config.bin %> tune sysctl get net.core.rmem_max net.core.wmem_max',
    '<%= config.bin %> tune sysctl get net.core',
    '<%= config.bin %> tune sysctl get net.core.somaxconn -o json',
  ];
  static override strict = false;
  static override args = { key: Args.string({ description: 'Sysctl names (one or more), e.g. net.ipv4.ip_forward.', required: true }) };
  static override flags = { output: outputFlag(['table', 'json', 'yaml']) };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(TuneSysctlGet);
    const views = new TuneService({ paths: this.app.paths, warn: this.app.host.warn }).get(argv as string[]);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], views);
    this.print(views.map((v) => `${v.key} = ${v.live ?? `(${v.note ?? 'unreadable'})`}`).join('\n'));
  }
}
