import { nsAlive, nsPath, describeSource } from '../../kernel/netns';
import type { VoltState, WorkloadRecord } from '../../state/types';

export interface WorkloadNic {
  network: string;
  ifname: string;
  hostIfname: string;
  ip: string;
  prefix: number;
  mac: string;
  gateway: string;
  /** Dual-stack networks: the IPv6 address ("fd00:30::64"), its prefix length and the IPv6 gateway. */
  ip6?: string;
  prefix6?: number;
  gateway6?: string;
  /** The resolver the workload is given: the network's gateway while volt-dns is enabled. */
  dns?: string;
  driver: string;
}

export interface WorkloadView {
  name: string;
  type: 'container' | 'vm';
  state: 'running' | 'stopped' | 'gone' | 'exited';
  source: string;
  nics: WorkloadNic[];
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: unknown) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every workload with its networks, from state and a cheap liveness probe. */
export function workloadViews(state: VoltState, opts: { dnsEnabled?: boolean } = {}): WorkloadView[] {
  const dnsEnabled = opts.dnsEnabled ?? true;
  const names = new Set([...Object.keys(state.workloads), ...state.attachments.map((a) => a.workload)]);
  return [...names].sort().map((name) => {
    const w: WorkloadRecord | undefined = state.workloads[name];
    const nics = state.attachments
      .filter((a) => a.workload === name)
      .map((a) => {
        const n = state.networks[a.network];
        return {
          network: a.network,
          ifname: a.ifname,
          hostIfname: a.hostIfname,
          ip: a.ip,
          prefix: n ? Number(n.subnet.split('/')[1]) : 0,
          mac: a.mac,
          gateway: n?.gateway ?? '',
          ...(a.ip6 !== undefined ? { ip6: a.ip6, prefix6: n?.subnet6 ? Number(n.subnet6.split('/')[1]) : 0, ...(n?.gateway6 ? { gateway6: n.gateway6 } : {}) } : {}),
          ...(dnsEnabled && n ? { dns: n.gateway } : {}),
          // VM NICs: the vm-nic driver that made the TAP while the VM runs (else just "tap").
          driver: a.kind === 'veth' ? 'veth' : (w?.type === 'vm' ? w.runtime?.nics.find((n) => n.id === a.ifname)?.driver : undefined) ?? 'tap',
        };
      });
    if (!w || w.type === 'container') {
      const alive = w ? nsAlive(nsPath(w.source)) : false;
      return { name, type: 'container', state: alive ? 'running' : 'gone', source: w ? describeSource(w.source) : '-', nics };
    }
    const running = w.pid !== undefined && pidAlive(w.pid);
    // A recorded QEMU that is gone died on its own: `volt vm stop` / `volt net up` clean its NICs.
    return { name, type: 'vm', state: running ? 'running' : w.runtime ? 'exited' : 'stopped', source: `uuid ${w.uuid}`, nics };
  });
}
