import { Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../cli/base-command';
import { networkSummary } from './inspect';

export default class NetCreate extends VoltCommand {
  static override summary = 'Create a managed network: a bridge, its gateway address, NAT and isolation.';
  static override description = `Creates the Linux bridge volt-NAME, assigns the gateway (first host address unless --gateway) to it, and sets up masquerade for outbound traffic unless --no-nat. With --subnet6 the network is dual-stack: the bridge gets the prefix's ::1, router advertisements go out on it, and workloads get IPv6 addresses too. Subnets may not overlap other networks or routes the host already has. Bridge names are limited to 15 characters by the kernel: use --bridge for long network names.`;
  static override examples = [
    '<%= config.bin %> net create --name backend --subnet 10.30.0.0/24',
    '<%= config.bin %> net create --name backend --subnet 10.30.0.0/24 --subnet6 fd00:30::/64',
    '<%= config.bin %> net create --name internal --subnet 10.50.0.0/24 --no-nat',
    '<%= config.bin %> net create --name storage-east --subnet 10.60.0.0/24 --bridge volt-stor-e --mtu 9000',
  ];
  static override flags = {
    name: Flags.string({ description: 'Network name (lower-case letters, digits, "-", "_").', required: true }),
    subnet: Flags.string({ description: 'IPv4 subnet in CIDR form, e.g. 10.30.0.0/24.', required: true }),
    gateway: Flags.string({ description: 'Gateway address on the bridge (default: first host address).' }),
    subnet6: Flags.string({ description: 'IPv6 prefix (unique local or global, /48-/120; /64 recommended), e.g. fd00:30::/64; the gateway is its ::1 (docs/ipv6.md).' }),
    'ipv6-mode': Flags.string({ description: 'How IPv6 leaves the network: nat (masquerade, default) or routed (a global prefix routed to this host).' }),
    mtu: Flags.integer({ description: 'MTU of the bridge (default: network.mtu from config).' }),
    nat: Flags.boolean({ description: 'Masquerade outbound traffic (--no-nat for an internal network).', default: true, allowNo: true }),
    bridge: Flags.string({ description: 'Bridge interface name (default: volt-NAME, at most 15 characters).' }),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetCreate);
    const svc = await this.app.networks();
    const n = await svc.create({ name: flags.name, subnet: flags.subnet, gateway: flags.gateway, subnet6: flags.subnet6, ipv6Mode: flags['ipv6-mode'], mtu: flags.mtu, nat: flags.nat, bridge: flags.bridge });
    if (flags.output === 'table') this.print(`created network ${networkSummary(n)}`);
    else this.printList(flags.output, [], [], n);
  }
}
