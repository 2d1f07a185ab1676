import { Args } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../cli/base-command';
import { serialize } from '../../output/render';

export default class VmStart extends VoltCommand {
  static override summary = 'Start a VM: create its NICs through the vm-nic driver, connect them, and run QEMU.';
  static override description =
    'NICs get their addresses through the same IPAM as `volt net connect` (guests take them by DHCP). ' +
    'QEMU runs detached and holds the TAP fds; KVM when it works here, else TCG with a warning. ' +
    'vhost-net is used when available, else userspace virtio-net with a warning.';
  static override examples = ['<%= config.bin %> vm start db-primary'];
  static override args = { name: Args.string({ description: 'VM name.', required: true }) };
  static override flags = { output: outputFlag() };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(VmStart);
    const r = await (await this.app.vms()).start(args.name);
    for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
    if (flags.output !== 'table') return this.print(serialize(r.vm, flags.output));
    const v = r.vm;
    this.print(`started VM ${v.name} (pid ${v.pid}, ${v.accel?.split(' ')[0] ?? '?'})`);
    for (const n of v.nics) {
      this.print(`  ${n.id}: ${n.network ?? 'no network'} ${n.ip ?? ''} mac ${n.mac ?? '-'} tap ${n.tap} (${n.driver ?? '?'}, vhost ${n.vhost})`.replace(/ +/g, ' '));
    }
    this.print(`  console: ${v.serialLog}`);
  }
}
