import { VoltCommand, outputFlag } from '../../cli/base-command';
import { workloadViews, type WorkloadView } from '../../services/attachments/workload-view';

export default class ContainerList extends VoltCommand {
  static override summary = 'List containers volt knows: registered ones and those connected by name.';
  static override examples = ['<%= config.bin %> container list', '<%= config.bin %> container list -o json'];
  static override flags = { output: outputFlag() };

  async run(): Promise<void> {
    const { flags } = await this.parse(ContainerList);
    const rows = workloadViews(this.app.store.read()).filter((w) => w.type === 'container');
    this.printList(
      flags.output,
      [
        { header: 'NAME', get: (w: WorkloadView) => w.name },
        { header: 'STATE', get: (w: WorkloadView) => w.state },
        { header: 'NAMESPACE', get: (w: WorkloadView) => w.source },
        { header: 'NETWORKS', get: (w: WorkloadView) => w.nics.map((n) => `${n.network}=${n.ip}`).join(',') },
      ],
      rows,
    );
  }
}
