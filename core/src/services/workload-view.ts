import { nsAlive, nsPath, describeSource } from '../kernel/netns';
import type { VoltState, WorkloadRecord } from '../state/types';

export interface WorkloadNic {
  network: string;
  ifname: string;
  hostIfname: string;
  ip: string;
  prefix: number;
  mac: string;
  gateway: string;
  dns: string;
  driver: string;
}

export interface WorkloadView {
  name: string;
  type: 'container' | 'vm';
  state: 'running' | 'stopped' | 'gone';
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
export function workloadViews(state: VoltState): WorkloadView[] {
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
          dns: n?.gateway ?? '',
          driver: a.kind === 'veth' ? 'veth' : 'tap',
        };
      });
    if (!w || w.type === 'container') {
      const alive = w ? nsAlive(nsPath(w.source)) : false;
      return { name, type: 'container', state: alive ? 'running' : 'gone', source: w ? describeSource(w.source) : '-', nics };
    }
    const running = w.pid !== undefined && pidAlive(w.pid);
    return { name, type: 'vm', state: running ? 'running' : 'stopped', source: `uuid ${w.uuid}`, nics };
  });
}
