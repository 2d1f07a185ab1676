import { Args } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../cli/base-command';
import { NotFoundError } from '@volt/sdk';
import { keyValues, table } from '../../output/render';
import { workloadViews, type WorkloadNic } from '../../services/attachments/workload-view';

export default class ContainerInspect extends VoltCommand {
  static override summary = 'Show a container: its namespace, networks, interfaces, addresses, MACs, gateway and DNS server.';
  static override examples = ['<%= config.bin %> container inspect api-server', '<%= config.bin %> container inspect api-server -o json'];
  static override args = { name: Args.string({ description: 'Container name.', required: true }) };
  static override flags = { output: outputFlag() };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ContainerInspect);
    const w = workloadViews(this.app.store.read(), { dnsEnabled: this.app.config.network.dns.enabled }).find((x) => x.name === args.name && x.type === 'container');
    if (!w) {
      throw new NotFoundError(`inspect container "${args.name}": volt knows no such container`, {
        code: 'E_WORKLOAD_NOT_FOUND',
        suggestions: ['`volt container list` shows known containers; connect or register it first'],
      });
    }
    if (flags.output !== 'table') return this.printList(flags.output, [], [], w);
    this.print(keyValues([['Name', w.name], ['State', w.state], ['Namespace', w.source], ['DNS server', w.nics.length === 0 ? undefined : (w.nics[0]?.dns ?? 'none (network.dns.enabled is false)')]]));
    if (w.nics.length > 0) {
      this.print('');
      this.print(
        table(
          [
            { header: 'NETWORK', get: (n: WorkloadNic) => n.network },
            { header: 'IFNAME', get: (n: WorkloadNic) => n.ifname },
            { header: 'ADDRESS', get: (n: WorkloadNic) => `${n.ip}/${n.prefix}` },
            { header: 'MAC', get: (n: WorkloadNic) => n.mac },
            { header: 'GATEWAY', get: (n: WorkloadNic) => n.gateway },
            ...(w.nics.some((n) => n.ip6 !== undefined)
              ? [
                  { header: 'ADDRESS6', get: (n: WorkloadNic) => (n.ip6 !== undefined ? `${n.ip6}/${n.prefix6 ?? 64}` : '-') },
                  { header: 'GATEWAY6', get: (n: WorkloadNic) => n.gateway6 ?? '-' },
                ]
              : []),
            { header: 'HOST-PORT', get: (n: WorkloadNic) => n.hostIfname },
          ],
          w.nics,
        ),
      );
    }
  }
}
