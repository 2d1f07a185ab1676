import { Flags } from '@oclif/core';
import { VoltCommand, outputFlag } from '../../../cli/base-command';
import { table } from '../../../output/render';
import { composeService, loadComposeFile } from '../../../services/compose/compose-load';
import type { ComposeAttachmentView, ComposeNetworkView } from '../../../services/compose/compose-service';

export default class NetComposePs extends VoltCommand {
  static override summary = "A Compose project's networks and each service's attachments.";
  static override description = `Lists the networks of the file (and any the project created that the file no longer names) with their subnet, bridge, MTU and whether they exist, then one row per service and network: the container found for the service (or "-"), its address and the extra names volt-dns serves for it.`;
  static override examples = ['<%= config.bin %> net compose ps -f compose.yaml', '<%= config.bin %> net compose ps -f compose.yaml -o json'];
  static override flags = {
    file: Flags.string({ char: 'f', description: 'Compose file ("-" for stdin).', default: 'compose.yaml' }),
    project: Flags.string({ char: 'p', description: "Project name (default: the file's name:, else its directory name)." }),
    output: outputFlag(['table', 'json', 'yaml']),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetComposePs);
    const p = loadComposeFile(flags.file, flags.project);
    const r = await composeService(this.app).ps(p);
    if (flags.output !== 'table') return this.printList(flags.output, [], [], r);
    const nets = table<ComposeNetworkView>(
      [
        { header: 'NETWORK', get: (n) => n.name },
        { header: 'KEY', get: (n) => n.key },
        { header: 'SUBNET', get: (n) => n.subnet ?? '-' },
        { header: 'BRIDGE', get: (n) => n.bridge ?? '-' },
        { header: 'MTU', get: (n) => (n.mtu === undefined ? '-' : String(n.mtu)) },
        { header: 'KIND', get: (n) => (n.external ? 'external' : n.internal ? 'internal' : 'nat') },
        { header: 'STATUS', get: (n) => (n.exists ? 'exists' : 'missing') },
      ],
      r.networks,
    );
    const svcs =
      r.services.length === 0
        ? '(no service names a network)'
        : table<ComposeAttachmentView>(
            [
              { header: 'SERVICE', get: (s) => s.service },
              { header: 'NETWORK', get: (s) => s.network },
              { header: 'CONTAINER', get: (s) => s.container ?? '- (not found)' },
              { header: 'IP', get: (s) => s.ip ?? '-' },
              { header: 'NAMES', get: (s) => (s.aliases.length > 0 ? s.aliases.join(',') : '-') },
            ],
            r.services,
          );
    this.print(`project ${r.project}\n${r.networks.length === 0 ? '(no networks)' : nets}\n\n${svcs}`);
  }
}
