import { Args, Flags } from '@oclif/core';
import { UserInputError } from '@volt/sdk';
import { VoltCommand, outputFlag } from '../../cli/base-command';

export default class NetConnect extends VoltCommand {
  static override summary = 'Connect containers or a VM to a network.';
  static override description = `A container (a named network namespace, a running systemd-nspawn machine, or one registered with \`volt container register\`) gets a veth pair: the host end on the bridge, the peer inside as eth0 (eth1… for further networks) with its address and, on its first network, a default route via the gateway. A VM's NIC (TAP) joins the bridge; a stopped VM gets the network at its next start.

Several containers in one command are connected as one transaction: one lock, one journaled operation, the kernel work for all of them together (one \`ip -batch\` for every host end), the firewall and DNS updates once. All or nothing: if one fails, none is connected and the error names it ("workload 3 of 10"). --ip, --ip6 and --mac set one workload's address, so they need a single workload; a VM is connected on its own. With -o json one workload prints its attachment, several an array of them.

Addresses come from the network's subnet: VMs from the low range, containers from the rest (see \`volt net inspect\`). MACs are stable per workload and network; one that collides on the bridge is regenerated and reported.`;
  static override examples = [
    '<%= config.bin %> net connect backend api-server',
    '<%= config.bin %> net connect backend web-1 web-2 web-3 worker',
    '<%= config.bin %> net connect backend db-primary --ip 10.30.0.10',
    '<%= config.bin %> net connect backend web --ip6 fd00:30::80',
    '<%= config.bin %> net connect backend cache --mac 02:aa:bb:cc:dd:ee -o json',
  ];
  // Several workloads may follow the first (not strict); oclif would print every argument with "...".
  static override strict = false;
  static override usage = 'net connect NETWORK WORKLOAD [WORKLOAD...] [--ip <value>] [--ip6 <value>] [--mac <value>] [-o table|json|yaml]';
  static override args = {
    network: Args.string({ description: 'Network name.', required: true }),
    workload: Args.string({ description: 'Container or VM name; several containers may follow.', required: true }),
  };
  static override flags = {
    ip: Flags.string({ description: 'Static address inside the subnet (default: the next free one). One workload only.' }),
    ip6: Flags.string({ description: 'Static IPv6 address inside the network\'s subnet6 (default: the next free one; a VM NIC on a /64: its SLAAC address). One workload only.' }),
    mac: Flags.string({ description: 'MAC address (default: stable, generated). One workload only.' }),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { args, raw, flags } = await this.parse(NetConnect);
    // The tokens in the order given (oclif's argv moves a repeated name next to its first occurrence).
    const workloads = raw.flatMap((t) => (t.type === 'arg' ? [t.input] : [])).slice(1);
    if (workloads.length > 1) {
      const given = (['ip', 'ip6', 'mac'] as const).filter((f) => flags[f] !== undefined);
      if (given.length > 0) {
        throw new UserInputError(`connect ${workloads.length} workloads to network "${args.network}": --${given[0]} sets the address of one workload; it cannot be given with several`, {
          code: 'E_FLAG_ONE_WORKLOAD',
          suggestions: [`connect that workload on its own: volt net connect ${args.network} WORKLOAD --${given[0]} …, the others in one command without it`],
        });
      }
    }
    const svc = await this.app.workloads();
    if (workloads.length === 1) {
      const { attachment: a, notes } = await svc.connect({ network: args.network, workload: args.workload, ip: flags.ip, ip6: flags.ip6, mac: flags.mac });
      for (const n of notes) process.stderr.write(`note: ${n}\n`);
      if (flags.output !== 'table') return this.printList(flags.output, [], [], a);
      this.print(line(a));
      return;
    }
    const { attachments, notes } = await svc.connectMany(args.network, workloads.map((workload) => ({ workload })));
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], attachments);
    this.print(attachments.map(line).join('\n'));
  }
}

function line(a: { workload: string; network: string; ifname: string; ip: string; ip6?: string; mac: string; hostIfname: string }): string {
  return `connected ${a.workload} to ${a.network}: ${a.ifname} ${a.ip}${a.ip6 !== undefined ? ` ${a.ip6}` : ''} ${a.mac} (host port ${a.hostIfname})`;
}
