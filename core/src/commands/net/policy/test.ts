import { Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../../cli/base-command';
import { UserInputError } from '@volt/sdk';
import { parsePorts, parseProto } from '../../../services/firewall/firewall-input';

export default class NetPolicyTest extends VoltCommand {
  static override summary = 'Would a new connection between two workloads be allowed? Names the policy, rule or default that decides.';
  static override description = `Judges the connection exactly as the firewall will: firewall rules first (first match), then policies (deny beats allow; a workload that policies target accepts only what they allow), then the default policy (same network allowed, different networks denied). Between workloads on one network it also checks that the bridge hands its traffic to the filter at all (br_netfilter).

  ✓ app-server → db-primary:5432 — ALLOWED (policy: app-to-db)
  ✗ web-frontend → db-primary:5432 — DENIED

--from, --to and --port take comma-separated lists to test every combination at once. Exit code 0 when everything tested is allowed, 1 when something is denied.`;
  static override examples = [
    '<%= config.bin %> net policy test --from app-server --to db-primary --port 5432',
    '<%= config.bin %> net policy test --from web-frontend --to db-primary --port 5432',
    '<%= config.bin %> net policy test --from web,api --to db --port 5432,6379 -o json',
    '<%= config.bin %> net policy test --from app-server --to db-primary --port 5432 --ipv6',
  ];
  static override flags = {
    from: Flags.string({ description: 'Source workload(s).', required: true }),
    to: Flags.string({ description: 'Destination workload(s).', required: true }),
    port: Flags.string({ description: 'Destination port(s) (required for tcp and udp).' }),
    proto: Flags.string({ description: 'tcp, udp or icmp.', default: 'tcp' }),
    ipv6: Flags.boolean({ description: 'Test the connection over IPv6 (both workloads need an IPv6 address: a dual-stack network).', default: false }),
    output: outputFlag(['table', 'json']),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetPolicyTest);
    const what = 'test connectivity';
    const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter((x) => x !== '');
    const proto = parseProto(flags.proto, what, ['tcp', 'udp', 'icmp']) as 'tcp' | 'udp' | 'icmp';
    const ranges = parsePorts(flags.port, what);
    const ports: number[] = [];
    for (const r of ranges) for (let p = r.from; p <= r.to; p++) ports.push(p);
    if (ports.length > 4096) throw new UserInputError(`${what}: at most 4096 ports at once`, { code: 'E_FIREWALL_INPUT' });
    const results = await (await this.app.policies()).test({ from: list(flags.from), to: list(flags.to), ports, proto, family: flags.ipv6 ? 6 : 4 });
    if (flags.output === 'json') this.print(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
    else {
      const single = results.length === 1;
      for (const r of results) {
        this.print(r.line);
        if (single) this.print(`  ${r.reason}`);
      }
    }
    if (results.some((r) => r.verdict === 'DENIED')) this.exit(1);
  }
}
