import { Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../../cli/base-command';

export default class NetFirewallAdd extends VoltCommand {
  static override summary = 'Add a firewall rule; rules can name workloads, and follow their addresses.';
  static override description = `The chain is chosen from the destination: the host itself (--dest host, or one of its addresses) lands in volt-input; a workload, another address or subnet in volt-forward; --dest any (or a subnet holding a host address) in both.

The new rule goes last (or before --before NAME); rules are evaluated in order, first match wins, ahead of policies and the default policy. The same rule twice (by name, or by what it matches and does) is refused.

--source/--dest take any, an IPv4 address, a subnet (10.0.0.0/24) or a workload name; --port a list of ports and ranges (80,443,8000-8080); --proto tcp, udp, icmp or any (default: any; ports mean tcp and udp). --network limits the rule to traffic coming from that network, and workload names to their address on it.`;
  static override examples = [
    '<%= config.bin %> net firewall add --name allow-http --source any --dest 10.0.0.5 --port 80,443 --proto tcp --action accept',
    '<%= config.bin %> net firewall add --name db-access --source 10.0.0.0/24 --dest db-primary --port 5432 --proto tcp --action accept',
    '<%= config.bin %> net firewall add --name block-ssh --source any --dest web --port 22 --proto tcp --action drop',
    '<%= config.bin %> net firewall add --name web-to-host --source web --dest host --port 8080 --proto tcp --action accept',
  ];
  static override flags = {
    name: Flags.string({ description: 'Rule name (unique).', required: true }),
    source: Flags.string({ description: 'any, an IPv4 address or subnet, or a workload name.', default: 'any' }),
    dest: Flags.string({ description: 'any, host, an IPv4 address or subnet, or a workload name.', default: 'any' }),
    port: Flags.string({ description: 'Destination ports: 80,443,8000-8080 (default: every port).' }),
    proto: Flags.string({ description: 'tcp, udp, icmp or any.', default: 'any' }),
    action: Flags.string({ description: 'accept, drop or reject.', required: true }),
    network: Flags.string({ description: 'Only traffic coming from this network.' }),
    before: Flags.string({ description: 'Insert before this rule instead of appending.' }),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetFirewallAdd);
    const { rule, position, notes } = await (await this.app.firewallRules()).add({
      name: flags.name,
      source: flags.source,
      dest: flags.dest,
      port: flags.port,
      proto: flags.proto,
      action: flags.action,
      network: flags.network,
      before: flags.before,
    });
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], { ...rule, position });
    this.print(`added rule ${rule.name} at position ${position} in ${rule.chains.map((c) => `volt-${c}`).join(' and ')}`);
  }
}
