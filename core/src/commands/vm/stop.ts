import { Args, Flags } from '@oclif/core';
import { VoltCommand } from '../../cli/base-command';

export default class VmStop extends VoltCommand {
  static override summary = 'Stop a VM: ACPI power button, then SIGTERM/SIGKILL after a timeout; its NICs are removed.';
  static override description =
    'Also cleans up after a QEMU that died on its own. The VM keeps its addresses (and leases) for the next start.';
  static override examples = ['<%= config.bin %> vm stop db-primary', '<%= config.bin %> vm stop db-primary --timeout 5', '<%= config.bin %> vm stop db-primary --force'];
  static override args = { name: Args.string({ description: 'VM name.', required: true }) };
  static override flags = {
    timeout: Flags.integer({ char: 't', description: 'Seconds to wait for the guest to power off before terminating QEMU.', default: 30, min: 0 }),
    force: Flags.boolean({ char: 'f', description: 'Do not ask the guest: terminate QEMU right away.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(VmStop);
    const r = await (await this.app.vms()).stop(args.name, { timeoutS: flags.timeout, force: flags.force });
    for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
    const said: Record<typeof r.how, string> = {
      'powered off': 'the guest powered off',
      terminated: `the guest did not power off${flags.force ? '' : ` within ${flags.timeout} s`}; QEMU terminated`,
      killed: 'QEMU did not exit on SIGTERM; killed',
      'had exited': 'QEMU had already exited; cleaned up',
      'not running': 'it was not running',
    };
    this.print(`stopped VM ${args.name}: ${said[r.how]}`);
  }
}
