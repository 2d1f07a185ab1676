import { Args } from '@oclif/core';
import { VoltCommand } from '../../cli/base-command';

export default class NetDisconnect extends VoltCommand {
  static override summary = 'Disconnect a workload from one network, or from all of them.';
  static override description = 'Removes the veth pair or detaches the TAP and releases the address. The host side is cleaned even when the container’s namespace is already gone.';
  static override examples = ['<%= config.bin %> net disconnect api-server', '<%= config.bin %> net disconnect api-server backend'];
  static override args = {
    workload: Args.string({ description: 'Container or VM name.', required: true }),
    network: Args.string({ description: 'Network to leave (default: all).' }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(NetDisconnect);
    const gone = await (await this.app.workloads()).disconnect(args.workload, args.network);
    for (const a of gone) this.print(`disconnected ${a.workload} from ${a.network} (released ${a.ip})`);
  }
}
