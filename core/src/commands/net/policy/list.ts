import { VoltCommand, outputFlag } from '../../../cli/base-command';
import type { PolicyView } from '../../../services/firewall/policy-service';

function withAddresses(name: string, addresses: string[] | undefined): string {
  if (addresses === undefined) return name;
  return `${name} (${addresses.length > 0 ? addresses.join(',') : 'no address'})`;
}

export default class NetPolicyList extends VoltCommand {
  static override summary = 'List network policies with the addresses their workloads resolve to.';
  static override examples = ['<%= config.bin %> net policy list', '<%= config.bin %> net policy list -o json'];
  static override flags = { output: outputFlag(['table', 'json', 'yaml']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetPolicyList);
    const rows = (await this.app.policies()).list();
    this.printList(
      flags.output,
      [
        { header: 'NAME', get: (p: PolicyView) => p.name },
        { header: 'FROM', get: (p: PolicyView) => withAddresses(p.from, p.fromAddresses) },
        { header: 'TO', get: (p: PolicyView) => withAddresses(p.to, p.toAddresses) },
        { header: 'PORT', get: (p: PolicyView) => (p.ports.length > 0 ? p.ports.join(',') : 'any') },
        { header: 'PROTO', get: (p: PolicyView) => p.proto },
        { header: 'ACTION', get: (p: PolicyView) => p.action },
      ],
      rows,
    );
  }
}
