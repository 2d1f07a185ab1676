import { Flags } from '@oclif/core';
import { VoltCommand } from '../../../cli/base-command';

export default class NetPortDelete extends VoltCommand {
  static override summary = 'Delete a port forward.';
  static override description = 'A forward that does not exist is an error (exit code 3), distinct from a failure to change the firewall (5).';
  static override examples = ['<%= config.bin %> net port delete --host-port 80', '<%= config.bin %> net port delete --host-port 53 --proto udp'];
  static override flags = {
    'host-port': Flags.string({ description: 'Port on the host.', required: true }),
    proto: Flags.string({ description: 'tcp or udp.', default: 'tcp' }),
    'host-ip': Flags.string({ description: 'The host address, when forwards on several addresses use the port.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetPortDelete);
    const f = await (await this.app.ports()).delete({ hostPort: flags['host-port'], proto: flags.proto, hostIp: flags['host-ip'] });
    this.print(`deleted forward ${f.hostIp ?? '*'}:${f.hostPort}/${f.proto} (was to ${f.target}:${f.targetPort})`);
  }
}
