import { Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../../cli/base-command';

export default class NetPortAdd extends VoltCommand {
  static override summary = 'Forward a host port to a workload (DNAT).';
  static override description = `Connections to the host's port reach the target workload: from outside, from the host itself (127.0.0.1:PORT and the host's addresses), and from workloads on the target's own network through the host's address (hairpin). Return traffic is tracked by conntrack.

A host port that is already forwarded, or that a process on the host listens on, is refused. A target that is stopped or has no address is accepted: \`volt net port list\` shows it, and the forward starts working when the target runs with an address (and follows it if the address changes). Changing a UDP forward flushes the conntrack entries of that port, so running flows do not keep the old mapping.`;
  static override examples = [
    '<%= config.bin %> net port add --host-port 80 --target web-frontend --target-port 80',
    '<%= config.bin %> net port add --host-port 5432 --target db-primary --target-port 5432',
    '<%= config.bin %> net port add --host-port 53 --target dns --target-port 53 --proto udp --host-ip 198.18.0.1',
  ];
  static override flags = {
    'host-port': Flags.string({ description: 'Port on the host (1-65535).', required: true }),
    target: Flags.string({ description: 'Workload (container or VM) to forward to.', required: true }),
    'target-port': Flags.string({ description: 'Port on the workload (default: the host port).' }),
    proto: Flags.string({ description: 'tcp or udp.', default: 'tcp' }),
    'host-ip': Flags.string({ description: 'Only connections to this host address (default: all of them).' }),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetPortAdd);
    const { forward: f, notes } = await (await this.app.ports()).add({
      hostPort: flags['host-port'],
      target: flags.target,
      targetPort: flags['target-port'],
      proto: flags.proto,
      hostIp: flags['host-ip'],
    });
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], f);
    const at = [f.targetAddress, f.targetAddress6].filter((x) => x !== undefined).join(', ');
    const host = f.hostIp === undefined ? '*' : f.hostIp.includes(':') ? `[${f.hostIp}]` : f.hostIp;
    this.print(`forwarding ${host}:${f.hostPort}/${f.proto} to ${f.target}:${f.targetPort} (${f.status}${at ? `, ${at}` : ''})`);
  }
}
