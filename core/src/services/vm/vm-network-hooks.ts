import type { NetworkRecord } from '../../state/types';
import { NetworkService, type CheckOptions, type NetworkDeps, type UpReport } from '../network/network-service';
import type { VmService } from './vm-service';

/**
 * The network service with what VMs add to it: `volt net check` reports VM
 * drift (a dead QEMU, a TAP off its bridge); `volt net up` also cleans
 * the NICs of VMs whose QEMU died, puts running VMs' TAPs back on re-created
 * bridges and restarts guest DHCP; `volt net delete` stops serving DHCP on the
 * network and lets VMs forget it.
 */
export class VmAwareNetworkService extends NetworkService {
  constructor(
    deps: NetworkDeps,
    private readonly vms: () => Promise<VmService>,
  ) {
    super(deps);
  }

  override async up(): Promise<UpReport> {
    const report = await super.up();
    const changes = await (await this.vms()).reconcile();
    if (changes.length === 0) return report;
    return { ...report, applied: true, drift: [...report.drift, ...changes] };
  }

  override async check(opts: CheckOptions = {}): Promise<string[]> {
    const drift = await super.check(opts);
    const vms = this.d.store.read().workloads;
    // No VM: the VM service (and its drivers) is not even loaded.
    if (!Object.values(vms).some((w) => w.type === 'vm' && w.runtime)) return drift;
    return [...drift, ...(await (await this.vms()).drift())];
  }

  override async delete(name: string, force: boolean): Promise<NetworkRecord> {
    const n = await super.delete(name, force);
    await (await this.vms()).forgetNetwork(n.name, n.bridge);
    return n;
  }
}
