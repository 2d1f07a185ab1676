import { VoltCommand, outputFlag } from '../../cli/base-command';
import { table } from '../../output/render';
import { networkColumnsFor } from '../../cli/net-list-view';

export default class NetStatus extends VoltCommand {
  static override summary = 'Show all networks, their bridges and ports, and the active drivers.';
  static override examples = ['<%= config.bin %> net status', '<%= config.bin %> net status -o json'];
  static override flags = { output: outputFlag(['table', 'json', 'yaml']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetStatus);
    const svc = await this.app.networks();
    const nets = await svc.list();
    const registry = await this.app.registry();
    const drivers = await Promise.all(
      (['bridge', 'firewall'] as const).map(async (k) => {
        const s = await registry.select(k);
        return { kind: k, active: s.active?.name ?? 'none', why: s.why };
      }),
    );
    if (flags.output !== 'table') return this.printList(flags.output, [], [], { networks: nets, drivers });
    const out: string[] = [];
    out.push('Drivers: ' + drivers.map((d) => `${d.kind}=${d.active} (${d.why})`).join(', '));
    out.push('');
    out.push(nets.length === 0 ? 'No networks yet: run `volt init` or `volt net create`.' : table(networkColumnsFor(nets), nets));
    for (const n of nets) {
      out.push('');
      out.push(`${n.bridge} (${n.name}) ${n.gateway}/${n.subnet.split('/')[1]}${n.gateway6 !== undefined && n.subnet6 !== undefined ? ` ${n.gateway6}/${n.subnet6.split('/')[1]}` : ''} ${n.nat ? '── NAT ──▶ host uplink' : '── internal, no NAT'}  [${n.status}]`);
      n.ports.forEach((p, i) => out.push(`${i === n.ports.length - 1 ? '└──' : '├──'} ${p}`));
      if (n.ports.length === 0) out.push('└── (no ports)');
    }
    this.print(out.join('\n'));
  }
}
