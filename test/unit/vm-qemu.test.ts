import test from 'ava';
import type { VmConfig } from '@volt/core/dist/services/vm/vm-config';
import { qemuArgs } from '@volt/core/dist/services/vm/vm-qemu';

const config: VmConfig = { vcpus: 2, memory_mib: 512, kernel: '/k/vmlinuz', initrd: '/k/initrd', cmdline: 'console=ttyS0', accel: 'auto', machine: 'q35', network: [] };

const plan = (over: Partial<Parameters<typeof qemuArgs>[0]> = {}) =>
  qemuArgs({ name: 'db-primary', uuid: '00000000-0000-4000-8000-000000000001', config, accel: 'tcg', serialLog: '/run/volt/vm/db-primary/serial.log', qmpSocket: '/run/volt/vm/db-primary/qmp.sock', nics: [], ...over });

function option(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

test('machine, accelerator, memory, console, QMP, kernel; nothing QEMU would add on its own', (t) => {
  const a = plan();
  t.deepEqual(option(a, '-accel'), ['tcg']);
  t.deepEqual(option(a, '-cpu'), [], 'TCG keeps the default CPU model');
  t.deepEqual(option(a, '-machine'), ['q35']);
  t.deepEqual(option(a, '-m'), ['512']);
  t.deepEqual(option(a, '-smp'), ['2']);
  t.deepEqual(option(a, '-uuid'), ['00000000-0000-4000-8000-000000000001']);
  t.deepEqual(option(a, '-serial'), ['file:/run/volt/vm/db-primary/serial.log']);
  t.deepEqual(option(a, '-qmp'), ['unix:/run/volt/vm/db-primary/qmp.sock,server=on,wait=off']);
  t.deepEqual([option(a, '-kernel'), option(a, '-initrd'), option(a, '-append')], [['/k/vmlinuz'], ['/k/initrd'], ['console=ttyS0']]);
  t.true(a.includes('-nodefaults') && a.includes('-no-reboot'));
  t.deepEqual(option(plan({ accel: 'kvm' }), '-cpu'), ['host']);
});

test('one queue: the TAP fd, userspace virtio-net when there is no vhost fd, MTU and MAC on the device', (t) => {
  const a = plan({ nics: [{ id: 'eth0', mac: '52:54:00:12:34:56', mtu: 1500, queues: 1, tapFds: [3], vhostFds: [] }] });
  t.deepEqual(option(a, '-netdev'), ['tap,id=eth0,fd=3,vhost=off']);
  t.deepEqual(option(a, '-device'), ['virtio-net-pci,netdev=eth0,id=nic-eth0,mac=52:54:00:12:34:56,host_mtu=1500']);
});

test('multi-queue with vhost-net: fds=/vhostfds= lists, mq=on and 2N+2 vectors', (t) => {
  const a = plan({
    nics: [
      { id: 'mgmt', mac: '52:54:00:00:00:01', mtu: 1500, queues: 1, tapFds: [3], vhostFds: [4] },
      { id: 'data', mac: '52:54:00:00:00:02', mtu: 9000, queues: 4, tapFds: [5, 6, 7, 8], vhostFds: [9, 10, 11, 12] },
    ],
  });
  t.deepEqual(option(a, '-netdev'), ['tap,id=mgmt,fd=3,vhost=on,vhostfd=4', 'tap,id=data,fds=5:6:7:8,vhost=on,vhostfds=9:10:11:12']);
  t.deepEqual(option(a, '-device'), [
    'virtio-net-pci,netdev=mgmt,id=nic-mgmt,mac=52:54:00:00:00:01,host_mtu=1500',
    'virtio-net-pci,netdev=data,id=nic-data,mac=52:54:00:00:00:02,host_mtu=9000,mq=on,vectors=10',
  ]);
});

test('a disk, and commas in paths doubled as QEMU wants', (t) => {
  const a = plan({ config: { ...config, disk: { path: '/img/a,b.qcow2', format: 'qcow2', readonly: true } } });
  t.deepEqual(option(a, '-drive'), ['file=/img/a,,b.qcow2,if=virtio,format=qcow2,readonly=on']);
});
