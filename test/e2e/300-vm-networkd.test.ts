import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost, guestConfig } from '../harness';
import { crossType, inspectVm, tapLink, writeConfig } from './300-vm-scenario';

test('cross-type communication with the networkd drivers: TAP units, networkd DHCP server with static leases, real guest', async (t) => {
  const host = await SandboxHost.create(t, { networkd: true, config: 'drivers:\n  bridge: networkd\n' });
  await crossType(t, host, { nicDriver: 'networkd' });
});

test('networkd does not deliver the TAP: volt retries, then falls back to a direct TAP with a warning', async (t) => {
  const host = await SandboxHost.create(t, { networkd: true, uplink: false, config: 'drivers:\n  bridge: networkd\n' });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  await host.voltOk(['vm', 'create', 'db-primary', '--config', writeConfig(host, 'db-primary', guestConfig([{ id: 'eth0', network: 'backend' }]))]);
  const vm = await inspectVm(host, 'db-primary');
  // An admin's unit of the same name in /etc overrides volt's in /run: networkd makes something else.
  fs.writeFileSync(path.join(host.root, 'etc/systemd/network', `50-vm-${vm.uuid}-eth0.netdev`), '[NetDev]\nName=decoy0\nKind=bridge\n');
  const r = await host.volt(['vm', 'start', 'db-primary'], { env: { VOLT_NETWORKD_TAP_TIMEOUT_MS: '500' } });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /networkd did not provide it \(attempt 1: .*attempt 3: .*\); units removed: .*; creating TAP tap-\w+ with the direct-tap driver instead/);
  const nic = (await inspectVm(host, 'db-primary')).nics[0]!;
  t.is(nic.driver, 'direct-tap');
  const tap = await tapLink(host, nic.tap);
  t.is(tap?.master, 'volt-backend');
  t.is(tap?.linkinfo?.info_data?.persist, false);
  t.deepEqual(fs.readdirSync(path.join(host.root, 'run/systemd/network')).filter((f) => f.startsWith('50-vm-')), []);
  await host.voltOk(['vm', 'stop', 'db-primary', '--force']);
  t.is(await tapLink(host, nic.tap), undefined);
});
