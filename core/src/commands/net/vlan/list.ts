import { VoltCommand, outputFlag } from '../../../cli/base-command';
import type { VoltApp } from '../../../app';
import type { Column } from '../../../output/render';
import type { VlanRecord } from '../../../state/types';
import type { VlanService, VlanView } from '../../../services/network/vlan-service';

const columns: Column<VlanView>[] = [
  { header: 'NAME', get: (v) => v.name },
  { header: 'PARENT', get: (v) => v.parent },
  { header: 'ID', get: (v) => v.id },
  { header: 'NETWORK', get: (v) => v.network },
  { header: 'STATE', get: (v) => v.state },
];

/** The VLAN service over this app's state and bridge driver (loaded only by `net vlan` commands). */
export async function vlanServiceOf(app: VoltApp): Promise<VlanService> {
  const { VlanService } = await import('../../../services/network/vlan-service');
  return new VlanService({ store: app.store, bridge: () => app.bridge(), warn: (m) => app.host.warn(m) });
}

/** "eth0.100 (id 100 on eth0, uplink of network backend)" */
export function vlanSummary(v: VlanRecord): string {
  return `${v.name} (id ${v.id} on ${v.parent}, ${v.network === undefined ? 'on no network' : `uplink of network ${v.network}`})`;
}

export default class NetVlanList extends VoltCommand {
  static override summary = 'List VLAN interfaces with their parent, id, network and kernel state.';
  static override description = 'STATE: up, down, missing (not in the kernel), drift (another link has the name, or the VLAN is off its bridge); `volt net up` repairs all of them.';
  static override examples = ['<%= config.bin %> net vlan list', '<%= config.bin %> net vlan list -o json'];
  static override flags = { output: outputFlag(['table', 'json', 'yaml']) };

  async run(): Promise<void> {
    const { flags } = await this.parse(NetVlanList);
    this.printList(flags.output, columns, await (await vlanServiceOf(this.app)).list());
  }
}
