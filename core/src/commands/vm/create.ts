import { Args, Flags } from '@oclif/core';
import * as path from 'node:path';
import { VoltCommand, outputFlag } from '../../cli/base-command';
import { serialize } from '../../output/render';

export default class VmCreate extends VoltCommand {
  static override summary = 'Create a VM from a JSON config (kernel, initrd, cmdline, disk, vcpus, memory_mib, network[]).';
  static override description =
    'Validates the config (errors name file:line:column and the JSON path) and records the VM; nothing runs until `volt vm start`. ' +
    'Each network[] entry names a volt network (`network`) or a bridge (`bridge`); neither means the default network. See docs/vms.md.';
  static override examples = ['<%= config.bin %> vm create db-primary --config vm.json'];
  static override args = { name: Args.string({ description: 'VM name.', required: true }) };
  static override flags = {
    config: Flags.string({ char: 'c', description: 'Path of the VM config (JSON).', required: true }),
    output: outputFlag(),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(VmCreate);
    const vm = await (await this.app.vms()).create(args.name, path.resolve(flags.config));
    if (flags.output !== 'table') return this.print(serialize(vm, flags.output));
    this.print(`created VM ${vm.name} (uuid ${vm.uuid}, ${vm.nics.length} NIC${vm.nics.length === 1 ? '' : 's'}); start it with \`volt vm start ${vm.name}\``);
  }
}
