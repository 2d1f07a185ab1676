import test from 'ava';
import { GuestConsole, SandboxHost, guestConfig, guestShell, ping } from '../harness';
import { inspectVm, tapLink, writeConfig, type Attachment } from './300-vm-scenario';

test('a multi-NIC VM (spec example: mgmt + data with MTU 9000 and 4 queues) on two networks, one DHCP server per network', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'mgmt', '--subnet', '10.40.0.0/24']);
  await host.voltOk(['net', 'create', '--name', 'data', '--subnet', '10.41.0.0/24', '--mtu', '9000']);
  const cm = await host.addContainer('c-mgmt');
  const cd = await host.addContainer('c-data');
  const am = await host.voltJson<Attachment>(['net', 'connect', 'mgmt', cm.netns, '-o', 'json']);
  const ad = await host.voltJson<Attachment>(['net', 'connect', 'data', cd.netns, '-o', 'json']);

  // The spec's "Multi-NIC VM", by bridge name.
  const cfg = guestConfig(
    [
      { id: 'mgmt', bridge: 'volt-mgmt', vhost: true },
      { id: 'data', bridge: 'volt-data', mtu: 9000, vhost: true, multiqueue: 4 },
    ],
    { vcpus: 2 },
  );
  await host.voltOk(['vm', 'create', 'multi', '--config', writeConfig(host, 'multi', cfg)]);
  const start = await host.voltOk(['vm', 'start', 'multi']);
  t.regex(start.stderr, /vhost-net unavailable \(.*\); NICs mgmt, data use userspace virtio-net/);
  const vm = await inspectVm(host, 'multi');
  t.deepEqual(
    vm.nics.map((n) => [n.id, n.network, n.ip, n.queues, n.mtu]),
    [
      ['mgmt', 'mgmt', '10.40.0.2', 1, 1500],
      ['data', 'data', '10.41.0.2', 4, 9000],
    ],
  );
  const mg = await tapLink(host, vm.nics[0]!.tap);
  const dt = await tapLink(host, vm.nics[1]!.tap);
  t.is(mg?.master, 'volt-mgmt');
  t.is(dt?.master, 'volt-data');
  t.is(dt?.mtu, 9000);
  t.is(dt?.linkinfo?.info_data?.multi_queue, true);

  const con = new GuestConsole(vm.serialLog);
  await con.waitFor(/VOLT-GUEST-READY/);
  // QEMU holds one fd per queue and detaches the ones the guest has not enabled (2 vCPUs: 2 queue pairs).
  const q = (await tapLink(host, vm.nics[1]!.tap))?.linkinfo?.info_data;
  t.is((q?.numqueues ?? 0) + (q?.numdisabled ?? 0), 4, 'four queues attached to the TAP');
  t.is(q?.numqueues, 2, 'the guest enabled two');
  const text = con.text();
  t.regex(text, /VOLT-DHCP eth0 ip=10\.40\.0\.2\/24 router=10\.40\.0\.1 dns=10\.40\.0\.1 mtu=1500/);
  t.regex(text, /VOLT-DHCP eth1 ip=10\.41\.0\.2\/24 router=10\.41\.0\.1 dns=10\.41\.0\.1 mtu=9000/, 'the guest takes the MTU from the device (host_mtu)');

  t.true(await ping(cm, '10.40.0.2'), 'mgmt peer reaches the VM on mgmt');
  t.true(await ping(cd, '10.41.0.2'), 'data peer reaches the VM on data');
  t.regex(await guestShell(cd, '10.41.0.2', `ping -c 1 -W 2 -s 8000 ${ad.ip} >/dev/null && echo JUMBO-OK`), /JUMBO-OK/, 'jumbo frames across the data bridge');
  t.regex(await guestShell(cm, '10.40.0.2', `ping -c 1 -W 2 ${am.ip} >/dev/null && echo MGMT-OK`), /MGMT-OK/);
  t.regex(await guestShell(cd, '10.41.0.2', 'ls /sys/class/net/eth1/queues | grep -c rx'), /^2\n$/, 'the guest uses as many queue pairs as it has vCPUs');

  await host.voltOk(['vm', 'stop', 'multi', '--force']);
  t.is(await tapLink(host, vm.nics[0]!.tap), undefined);
  t.is(await tapLink(host, vm.nics[1]!.tap), undefined);
});
