import { Args, Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../cli/base-command';

export default class NetConnect extends VoltCommand {
  static override summary = 'Connect a container or VM to a network.';
  static override description = `A container (a named network namespace, a running systemd-nspawn machine, or one registered with \`volt container register\`) gets a veth pair: the host end on the bridge, the peer inside as eth0 (eth1… for further networks) with its address and, on its first network, a default route via the gateway. A VM's NIC (TAP) joins the bridge; a stopped VM gets the network at its next start.

Addresses come from the network's subnet: VMs from the low range, containers from the rest (see \`volt net inspect\`). MACs are stable per workload and network; one that collides on the bridge is regenerated and reported.`;
  static override examples = [
    '<%= config.bin %> net connect backend api-server',
    '<%= config.bin %> net connect backend db-primary --ip 10.30.0.10',
    '<%= config.bin %> net connect backend web --ip6 fd00:30::80',
    '<%= config.bin %> net connect backend cache --mac 02:aa:bb:cc:dd:ee -o json',
  ];
  static override args = {
    network: Args.string({ description: 'Network name.', required: true }),
    workload: Args.string({ description: 'Container or VM name.', required: true }),
  };
  static override flags = {
    ip: Flags.string({ description: 'Static address inside the subnet (default: the next free one).' }),
    ip6: Flags.string({ description: 'Static IPv6 address inside the network\'s subnet6 (default: the next free one; a VM NIC on a /64: its SLAAC address).' }),
    mac: Flags.string({ description: 'MAC address (default: stable, generated).' }),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(NetConnect);
    const svc = await this.app.workloads();
    const { attachment: a, notes } = await svc.connect({ network: args.network, workload: args.workload, ip: flags.ip, ip6: flags.ip6, mac: flags.mac });
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], a);
    this.print(`connected ${a.workload} to ${a.network}: ${a.ifname} ${a.ip}${a.ip6 !== undefined ? ` ${a.ip6}` : ''} ${a.mac} (host port ${a.hostIfname})`);
  }
}
