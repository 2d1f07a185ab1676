import { Args } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../cli/base-command';
import { keyValues, serialize, table } from '../../output/render';
import type { VmNicView } from '../../services/vm/vm-service';

export default class VmInspect extends VoltCommand {
  static override summary = 'Show a VM: state, QEMU pid and accelerator, console log, and per NIC its network, address, MAC, TAP, driver and vhost.';
  static override examples = ['<%= config.bin %> vm inspect db-primary', '<%= config.bin %> vm inspect db-primary -o json'];
  static override args = { name: Args.string({ description: 'VM name.', required: true }) };
  static override flags = { output: outputFlag() };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(VmInspect);
    const v = (await this.app.vms()).inspect(args.name);
    if (flags.output !== 'table') return this.print(serialize(v, flags.output));
    this.print(
      keyValues([
        ['Name', v.name],
        ['UUID', v.uuid],
        ['State', v.state === 'exited' ? 'exited (QEMU died; `volt vm stop` cleans up)' : v.state],
        ['PID', v.pid],
        ['Accel', v.accel],
        ['vCPUs', v.vcpus],
        ['Memory', `${v.memoryMib} MiB`],
        ['Kernel', v.kernel],
        ['Initrd', v.initrd],
        ['Cmdline', v.cmdline],
        ['Console', v.serialLog],
        ['QEMU log', v.qemuLog],
        ['QMP', v.qmpSocket],
      ]),
    );
    if (v.nics.length === 0) return;
    this.print('');
    this.print(
      table(
        [
          { header: 'NIC', get: (n: VmNicView) => n.id },
          { header: 'NETWORK', get: (n: VmNicView) => n.network },
          { header: 'ADDRESS', get: (n: VmNicView) => n.ip },
          ...(v.nics.some((n) => n.ip6 !== undefined) ? [{ header: 'ADDRESS6', get: (n: VmNicView) => n.ip6 ?? '-' }] : []),
          { header: 'MAC', get: (n: VmNicView) => n.mac },
          { header: 'TAP', get: (n: VmNicView) => n.tap },
          { header: 'DRIVER', get: (n: VmNicView) => n.driver },
          { header: 'QUEUES', get: (n: VmNicView) => n.queues },
          { header: 'MTU', get: (n: VmNicView) => n.mtu },
          { header: 'VHOST', get: (n: VmNicView) => `vhost: ${n.vhost}` },
        ],
        v.nics,
      ),
    );
  }
}
