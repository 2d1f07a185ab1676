import { Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../cli/base-command';
import { networkSummary } from './inspect';

export default class NetCreate extends VoltCommand {
  static override summary = 'Create a managed network: a bridge, its gateway address, NAT and isolation.';
  static override description = `Creates the Linux bridge volt-NAME, assigns the gateway (first host address unless --gateway) to it, and sets up masquerade for outbound traffic unless --no-nat. Subnets may not overlap other networks or routes the host already has. Bridge names are limited to 15 characters by the kernel: use --bridge for long network names.`;
  static override examples = [
    '<%= config.bin %> net create --name backend --subnet 10.30.0.0/24',
    '<%= config.bin %> net create --name internal --subnet 10.50.0.0/24 --no-nat',
    '<%= config.bin %> net create --name storage-east --subnet 10.60.0.0/24 --bridge volt-stor-e --mtu 9000',
  ];
  static override flags = {
    name: Flags.string({ description: 'Network name (lower-case letters, digits, "-", "_").', required: true }),
    subnet: Flags.string({ description: 'IPv4 subnet in CIDR form, e.g. 10.30.0.0/24.', required: true }),
    gateway: Flags.string({ description: 'Gateway address on the bridge (default: first host address).' }),
    mtu: Flags.integer({ description: 'MTU of the bridge (default: network.mtu from config).' }),
    nat: Flags.boolean({ description: 'Masquerade outbound traffic (--no-nat for an internal network).', default: true, allowNo: true }),
    bridge: Flags.string({ description: 'Bridge interface name (default: volt-NAME, at most 15 characters).' }),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetCreate);
    const svc = await this.app.networks();
    const n = await svc.create({ name: flags.name, subnet: flags.subnet, gateway: flags.gateway, mtu: flags.mtu, nat: flags.nat, bridge: flags.bridge });
    if (flags.output === 'table') this.print(`created network ${networkSummary(n)}`);
    else this.printList(flags.output, [], [], n);
  }
}
