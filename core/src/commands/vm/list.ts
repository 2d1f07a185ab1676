import { VoltCommand, outputFlag } from '../../cli/base-command';
import type { VmView } from '../../services/vm/vm-service';

export default class VmList extends VoltCommand {
  static override summary = 'List VMs with their state, size and NICs.';
  static override examples = ['<%= config.bin %> vm list', '<%= config.bin %> vm list -o json'];
  static override flags = { output: outputFlag() };

  async run(): Promise<void> {
    const { flags } = await this.parse(VmList);
    // Reads state only: no driver is loaded.
    const vms = (await this.app.vms()).list();
    this.printList(
      flags.output,
      [
        { header: 'NAME', get: (v: VmView) => v.name },
        { header: 'STATE', get: (v: VmView) => v.state },
        { header: 'PID', get: (v: VmView) => v.pid },
        { header: 'VCPUS', get: (v: VmView) => v.vcpus },
        { header: 'MEMORY', get: (v: VmView) => `${v.memoryMib}M` },
        { header: 'NICS', get: (v: VmView) => v.nics.map((n) => `${n.id}:${n.network ?? '-'}${n.ip ? `=${n.ip}` : ''}`).join(',') },
      ],
      vms,
    );
  }
}
