import { Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../../cli/base-command';
import { TuneService } from '../../../services/tune/tune-service';
import { changeLine } from '../sysctl/set';

const size = (description: string) => Flags.string({ description, helpValue: 'SIZE' });

export default class TuneNetBuffers extends VoltCommand {
  static override summary = 'Set socket buffer sizes for high-throughput workloads, now and at boot.';
  static override description = `Sizes are bytes, or whole numbers with K, M or G (binary: 16M = 16777216), at most 2G-1. All given values are written to the kernel together, or none is (a refused value undoes the others), then persisted like \`volt tune sysctl set\`.

--rmem-max/--wmem-max cap what a socket may ask for (SO_RCVBUF/SO_SNDBUF); the defaults apply to new sockets and may not exceed the maxima. --tcp-rmem-max/--tcp-wmem-max change the third field of net.ipv4.tcp_rmem/tcp_wmem, the ceiling of TCP autotuning.

On current kernels net.core.{r,w}mem_{max,default} can be changed only from the host's root network namespace (inside another namespace they are read-only copies); the TCP keys belong to each namespace.`;
  static override examples = [
    '<%= config.bin %> tune net buffers --rmem-max 16M --wmem-max 16M',
    '<%= config.bin %> tune net buffers --rmem-default 256K --wmem-default 256K',
    '<%= config.bin %> tune net buffers --tcp-rmem-max 16M --tcp-wmem-max 16M -o json',
  ];
  static override flags = {
    'rmem-max': size('net.core.rmem_max: largest receive buffer a socket may ask for.'),
    'wmem-max': size('net.core.wmem_max: largest send buffer a socket may ask for.'),
    'rmem-default': size('net.core.rmem_default: receive buffer of a new socket.'),
    'wmem-default': size('net.core.wmem_default: send buffer of a new socket.'),
    'tcp-rmem-max': size('Third field of net.ipv4.tcp_rmem: TCP receive autotuning ceiling.'),
    'tcp-wmem-max': size('Third field of net.ipv4.tcp_wmem: TCP send autotuning ceiling.'),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(TuneNetBuffers);
    const svc = new TuneService({ paths: this.app.paths, warn: this.app.host.warn });
    const changes = await svc.buffers({
      rmemMax: flags['rmem-max'],
      wmemMax: flags['wmem-max'],
      rmemDefault: flags['rmem-default'],
      wmemDefault: flags['wmem-default'],
      tcpRmemMax: flags['tcp-rmem-max'],
      tcpWmemMax: flags['tcp-wmem-max'],
    });
    if (flags.output !== 'table') return this.printList(flags.output, [], [], { changes, file: svc.confFile });
    this.print([...changes.map(changeLine), `persisted in ${svc.confFile}`].join('\n'));
  }
}
