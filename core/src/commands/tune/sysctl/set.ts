import { Args } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../../cli/base-command';
import { TuneService, type SysctlChange } from '../../../services/tune/tune-service';

/** "net.core.somaxconn = 65535 (was 4096)" */
export function changeLine(c: SysctlChange): string {
  const notes: string[] = [];
  if (!c.changed) notes.push('unchanged');
  else notes.push(`was ${c.before}`);
  if (c.requested !== undefined) notes.push(`the kernel stored it as "${c.value}"`);
  return `${c.key} = ${c.value} (${notes.join(', ')})`;
}

export default class TuneSysctlSet extends VoltCommand {
  static override summary = 'Set a network sysctl now and persist it for boot.';
  static override description = `The kernel validates the value (it is written first; a refused value changes nothing). The value the kernel stored is persisted in <root>/etc/sysctl.d/90-volt.conf, which systemd-sysctl applies at boot, and recorded in <root>/var/lib/volt/tuning.json together with the value the key had before volt first set it (\`volt tune sysctl unset\` puts that back).

Only net.* keys: other trees (vm.*, kernel.*, fs.*) are refused. Keys act on the network namespace volt runs in; a key the kernel keeps once for the whole machine (net.core.netdev_max_backlog) exists only in the root namespace. Byte-size keys (net.core.rmem_max, wmem_max, rmem_default, wmem_default, optmem_max) also take K/M/G sizes. Vector values (tcp_rmem) go in quotes.`;
  static override examples = [
    '<%= config.bin %> tune sysctl set net.core.somaxconn 65535',
    '<%= config.bin %> tune sysctl set net.ipv4.ip_forward 1',
    '<%= config.bin %> tune sysctl set net.core.rmem_max 16M',
    '<%= config.bin %> tune sysctl set net.ipv4.tcp_rmem "4096 131072 16777216" -o json',
  ];
  static override args = {
    key: Args.string({ description: 'Sysctl name, e.g. net.core.somaxconn.', required: true }),
    value: Args.string({ description: 'New value.', required: true }),
  };
  static override flags = { output: outputFlag(['table', 'json', 'yaml']) };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(TuneSysctlSet);
    const svc = new TuneService({ paths: this.app.paths, warn: this.app.host.warn });
    const [change] = await svc.set([{ key: args.key, value: args.value }]);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], { ...change!, file: svc.confFile });
    this.print(`${changeLine(change!)}\npersisted in ${svc.confFile}`);
  }
}
