import { runCommand } from '@volt/sdk/kernel';
import type { ContainerSource } from '../state/types';

/** iproute2's directory of named namespaces (not volt's: it belongs to `ip netns`). */
export const NETNS_RUN_DIR = process.env.VOLT_NETNS_DIR ?? '/run/netns';

export function nsPath(src: ContainerSource): string {
  switch (src.kind) {
    case 'netns':
      return `${NETNS_RUN_DIR}/${src.name}`;
    case 'path':
      return src.path;
    case 'pid':
    case 'nspawn':
      return `/proc/${src.kind === 'pid' ? src.pid : src.leader}/ns/net`;
  }
}

export function describeSource(src: ContainerSource): string {
  switch (src.kind) {
    case 'netns':
      return `netns ${src.name}`;
    case 'path':
      return `netns file ${src.path}`;
    case 'pid':
      return `pid ${src.pid}`;
    case 'nspawn':
      return `nspawn machine ${src.machine} (leader ${src.leader})`;
  }
}

// Generic namespace helpers are part of the SDK (drivers use them too).
export { ipBatchIn, ipJsonIn, nsAlive } from '@volt/sdk/kernel';

/** The leader PID of a running systemd-nspawn machine, via systemd-machined. */
export async function nspawnLeader(machine: string): Promise<number | undefined> {
  const r = await runCommand('machinectl', ['show', machine, '--property=Leader', '--value'], { timeoutMs: 3000 });
  const pid = Number(r.stdout.trim());
  return r.code === 0 && Number.isInteger(pid) && pid > 0 ? pid : undefined;
}
