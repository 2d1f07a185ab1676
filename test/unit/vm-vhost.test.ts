import test from 'ava';
import type { HostContext } from '@volt/sdk';
import { voltPaths } from '@volt/sdk';
import { VhostNet } from '@volt/plugin-vhost-net';

const host: HostContext = { paths: voltPaths({}), warn: () => undefined, debug: () => undefined };

test('vhost-net probe: a missing device node is "off" with the reason, and setup says the same', async (t) => {
  const v = new VhostNet(host, '/nonexistent/vhost-net');
  t.deepEqual(await v.available(), { ok: false, reason: '/nonexistent/vhost-net: ENOENT, the vhost_net module is not loaded or not built' });
  await t.throwsAsync(v.setupAccel({ vm: 'db', nicId: 'eth0', queues: 2 }), { message: /open vhost-net for VM "db" NIC eth0: .*ENOENT/, code: 'E_VHOST' } as never);
});

test('vhost-net probe: a device that is not vhost-net fails the feature ioctl', async (t) => {
  const probe = await new VhostNet(host, '/dev/null').available();
  t.false(probe.ok);
  t.regex(probe.reason, /\/dev\/null: ioctl ENOTTY/);
});

test('vhost-net: one fd per queue, closed again on teardown', async (t) => {
  // /dev/null opens like the device does; what matters is the fd bookkeeping.
  const v = new VhostNet(host, '/dev/null');
  const h = await v.setupAccel({ vm: 'db', nicId: 'eth0', queues: 3 });
  t.is(h.fds.length, 3);
  t.is(new Set(h.fds).size, 3);
  await v.teardownAccel({ vm: 'db', nicId: 'eth0', queues: 3 }, h);
  t.deepEqual(h.fds, []);
});
