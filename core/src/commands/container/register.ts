import { Args, Flags } from '@oclif/core';
import * as path from 'node:path';
import { VoltCommand } from '../../cli/base-command';
import { UserInputError } from '@volt/sdk';
import { describeSource } from '../../kernel/netns';
import type { ContainerSource } from '../../state/types';

export default class ContainerRegister extends VoltCommand {
  static override summary = 'Register a container by its network namespace file or a process inside it.';
  static override description = 'Named namespaces (`ip netns`) and running systemd-nspawn machines are found by name without registering.';
  static override examples = [
    '<%= config.bin %> container register api-server --netns /run/netns/api-server',
    '<%= config.bin %> container register worker --pid 4242',
  ];
  static override args = { name: Args.string({ description: 'Container name.', required: true }) };
  static override flags = {
    netns: Flags.string({ description: 'Path of a network namespace file.', exclusive: ['pid'] }),
    pid: Flags.integer({ description: 'PID of a process inside the container.', exclusive: ['netns'], min: 1 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ContainerRegister);
    let source: ContainerSource;
    if (flags.netns !== undefined) source = { kind: 'path', path: path.resolve(flags.netns) };
    else if (flags.pid !== undefined) source = { kind: 'pid', pid: flags.pid };
    else throw new UserInputError(`register container "${args.name}": pass --netns PATH or --pid PID`, { code: 'E_ARG_MISSING' });
    const rec = await (await this.app.workloads()).register(args.name, source);
    this.print(`registered container ${rec.name} (${describeSource(rec.source)})`);
  }
}
