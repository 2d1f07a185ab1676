import * as fs from 'node:fs';
import type { VmConfig } from './vm-config';

export const QEMU_BINARY = process.env.VOLT_QEMU ?? 'qemu-system-x86_64';

/** One NIC as QEMU sees it: fd numbers are the child's (3, 4, …), in the order of spawn's stdio array. */
export interface QemuNic {
  id: string;
  mac: string;
  mtu: number;
  queues: number;
  tapFds: number[];
  /** Empty: userspace virtio-net (vhost=off). */
  vhostFds: number[];
}

export interface QemuPlan {
  name: string;
  uuid: string;
  config: VmConfig;
  accel: 'kvm' | 'tcg';
  serialLog: string;
  qmpSocket: string;
  nics: QemuNic[];
}

/** QEMU's option syntax: a comma inside a value is written twice. */
function esc(value: string): string {
  return value.replace(/,/g, ',,');
}

/** The QEMU command line for a plan (pure: tests compare it as data). */
export function qemuArgs(p: QemuPlan): string[] {
  const c = p.config;
  const args = [
    '-name', `guest=${esc(p.name)}`,
    '-uuid', p.uuid,
    '-machine', c.machine,
    '-accel', p.accel,
    ...(p.accel === 'kvm' ? ['-cpu', 'host'] : []),
    '-m', String(c.memory_mib),
    '-smp', String(c.vcpus),
    // Nothing QEMU would add by itself (NIC, VGA, monitor, serial): every device is volt's.
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-serial', `file:${p.serialLog}`,
    '-no-reboot',
    '-qmp', `unix:${p.qmpSocket},server=on,wait=off`,
    '-kernel', c.kernel,
    ...(c.initrd !== undefined ? ['-initrd', c.initrd] : []),
    ...(c.cmdline !== undefined ? ['-append', c.cmdline] : []),
    ...(c.disk !== undefined
      ? ['-drive', `file=${esc(c.disk.path)},if=virtio,format=${c.disk.format}${c.disk.readonly ? ',readonly=on' : ''}`]
      : []),
  ];
  for (const n of p.nics) {
    const multi = n.queues > 1;
    const tap = multi ? `fds=${n.tapFds.join(':')}` : `fd=${n.tapFds[0]}`;
    const vhost =
      n.vhostFds.length === 0 ? 'vhost=off' : multi ? `vhost=on,vhostfds=${n.vhostFds.join(':')}` : `vhost=on,vhostfd=${n.vhostFds[0]}`;
    args.push('-netdev', `tap,id=${n.id},${tap},${vhost}`);
    // host_mtu: the guest's virtio-net driver takes the MTU from the device (VIRTIO_NET_F_MTU).
    const device = [`virtio-net-pci`, `netdev=${n.id}`, `id=nic-${n.id}`, `mac=${n.mac}`, `host_mtu=${n.mtu}`];
    // One vector per queue each way, plus config and control.
    if (multi) device.push('mq=on', `vectors=${2 * n.queues + 2}`);
    args.push('-device', device.join(','));
  }
  return args;
}

/** Is `pid` the QEMU of the VM with this UUID (and not a zombie, or another process that reused the pid)? */
export function qemuAlive(pid: number | undefined, uuid: string): boolean {
  if (pid === undefined) return false;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S …": the state follows the last ')'.
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return false;
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(uuid);
  } catch {
    return false;
  }
}

/** Wait until the VM's QEMU is gone; true if it went within timeoutMs. */
export async function waitGone(pid: number, uuid: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (qemuAlive(pid, uuid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** The last lines of a log file, for error messages. */
export function tailOf(file: string, lines = 5): string {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-lines)
      .join(' | ');
  } catch {
    return '';
  }
}
