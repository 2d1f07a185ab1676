import { Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../../cli/base-command';

export default class NetPolicyCreate extends VoltCommand {
  static override summary = 'Create a network policy: which workloads may open connections to a workload.';
  static override description = `Like a Kubernetes NetworkPolicy on ingress: once any policy targets a workload (--to), new connections to it are accepted only as its policies allow; a matching deny beats any allow. Workloads that no policy targets keep the default policy (same network allowed, other networks denied) — and an allow policy can open a connection across networks.

--from is a workload name or any (any workload); --port a list of ports or ranges (default: every port); --proto tcp, udp, icmp or any (default tcp). Firewall rules come before policies; port-forwarded connections are not subject to policies.`;
  static override examples = [
    '<%= config.bin %> net policy create --name app-to-db --from app-server --to db-primary --port 5432 --action allow',
    '<%= config.bin %> net policy create --name no-web-db --from web-frontend --to db-primary --action deny',
  ];
  static override flags = {
    name: Flags.string({ description: 'Policy name (unique).', required: true }),
    from: Flags.string({ description: 'Source workload, or any.', default: 'any' }),
    to: Flags.string({ description: 'Destination workload (the one the policy protects).', required: true }),
    port: Flags.string({ description: 'Destination ports: 5432 or 8000-8010,9000 (default: every port).' }),
    proto: Flags.string({ description: 'tcp, udp, icmp or any.', default: 'tcp' }),
    action: Flags.string({ description: 'allow or deny.', required: true }),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetPolicyCreate);
    const { policy, notes } = await (await this.app.policies()).create({
      name: flags.name,
      from: flags.from,
      to: flags.to,
      port: flags.port,
      proto: flags.proto,
      action: flags.action,
    });
    for (const n of notes) process.stderr.write(`note: ${n}\n`);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], policy);
    this.print(`created policy ${policy.name}: ${policy.action} ${policy.from} → ${policy.to}${policy.ports.length > 0 ? `:${policy.ports.join(',')}` : ''} (${policy.proto})`);
  }
}
