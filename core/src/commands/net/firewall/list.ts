import { VoltCommand, outputFlag } from '../../../cli/base-command';
import { table } from '../../../output/render';
import type { DefaultView, RuleView } from '../../../services/firewall/firewall-service';

function withAddresses(text: string, addresses: string[] | undefined): string {
  if (addresses === undefined) return text;
  return `${text} (${addresses.length > 0 ? addresses.join(',') : 'no address'})`;
}

export default class NetFirewallList extends VoltCommand {
  static override summary = 'List user firewall rules in evaluation order, then what decides after them.';
  static override description = `Rules are evaluated top to bottom and the first match wins. Before them, traffic of established connections is accepted; after them come network policies (\`volt net policy list\`), then the default policy, shown per network below the rules (NAT, same-network and cross-network verdicts, what workloads may reach on the host).

CHAIN is where a rule landed: volt-input for traffic to the host itself, volt-forward for traffic to or between workloads (both for --dest any, or a subnet that contains a host address). Workload names show the addresses they resolve to now.`;
  static override examples = ['<%= config.bin %> net firewall list', '<%= config.bin %> net firewall list -o json'];
  static override flags = { output: outputFlag(['table', 'json', 'yaml']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetFirewallList);
    const listing = (await this.app.firewallRules()).list();
    if (flags.output !== 'table') return this.printList(flags.output, [], [], listing);
    const rules =
      listing.rules.length === 0
        ? 'no user firewall rules'
        : table<RuleView>(
            [
              { header: '#', get: (r) => r.position },
              { header: 'NAME', get: (r) => r.name },
              { header: 'CHAIN', get: (r) => r.chains.join(',') },
              { header: 'SOURCE', get: (r) => withAddresses(r.source, r.sourceAddresses) },
              { header: 'DEST', get: (r) => withAddresses(r.dest, r.destAddresses) },
              { header: 'PROTO', get: (r) => r.proto },
              { header: 'PORT', get: (r) => (r.ports.length > 0 ? r.ports.join(',') : 'any') },
              { header: 'ACTION', get: (r) => r.action },
              { header: 'NETWORK', get: (r) => r.network ?? 'any' },
            ],
            listing.rules,
          );
    const lines = [
      rules,
      '',
      `Order: established connections first; then the rules above, top to bottom, first match wins; then network policies (${listing.policies}: volt net policy list); then the default policy:`,
      '',
      listing.defaults.length === 0
        ? 'no networks (the firewall table is created with the first network)'
        : table<DefaultView>(
            [
              { header: 'NETWORK', get: (d) => d.network },
              { header: 'SUBNET', get: (d) => d.subnet },
              { header: 'NAT', get: (d) => d.nat },
              { header: 'SAME-NETWORK', get: (d) => d.sameNetwork },
              { header: 'OTHER-NETWORKS', get: (d) => d.otherNetworks },
              { header: 'TO-HOST', get: (d) => d.toHost },
            ],
            listing.defaults,
          ),
      '',
      `Inbound to the host: denied except established/related and host_allow; port forwards: ${listing.forwards} (volt net port list).`,
    ];
    this.print(lines.join('\n'));
  }
}
