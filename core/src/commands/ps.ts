import { VoltCommand, outputFlag } from '../cli/base-command';
import { workloadViews, type WorkloadView } from '../services/attachments/workload-view';

export default class Ps extends VoltCommand {
  static override summary = 'List every workload (containers and VMs) with its state, networks, addresses and NICs.';
  static override examples = ['<%= config.bin %> ps', '<%= config.bin %> ps -o json'];
  static override flags = { output: outputFlag() };

  async run(): Promise<void> {
    const { flags } = await this.parse(Ps);
    const rows = workloadViews(this.app.store.read());
    const join = (w: WorkloadView, f: (n: WorkloadView['nics'][number]) => string): string => w.nics.map(f).join(',');
    this.printList(
      flags.output,
      [
        { header: 'NAME', get: (w: WorkloadView) => w.name },
        { header: 'TYPE', get: (w: WorkloadView) => w.type },
        { header: 'STATE', get: (w: WorkloadView) => w.state },
        { header: 'NETWORKS', get: (w: WorkloadView) => join(w, (n) => n.network) },
        { header: 'IPS', get: (w: WorkloadView) => join(w, (n) => n.ip) },
        // Only once some workload is dual-stack: IPv4-only hosts keep their listing as it was.
        ...(rows.some((w) => w.nics.some((n) => n.ip6 !== undefined)) ? [{ header: 'IPV6', get: (w: WorkloadView) => join(w, (n) => n.ip6 ?? '-') }] : []),
        { header: 'MACS', get: (w: WorkloadView) => join(w, (n) => n.mac) },
        { header: 'NIC', get: (w: WorkloadView) => join(w, (n) => `${n.driver}:${n.hostIfname}`) },
      ],
      rows,
    );
  }
}
