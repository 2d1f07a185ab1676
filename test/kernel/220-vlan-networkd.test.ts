/**
 * The networkd VLAN design against the real systemd-networkd 252 of a sandbox host:
 * the units renderVlanUnits writes (a .netdev Kind=vlan, the VLAN's .network, and a
 * drop-in `VLAN=` for the operator's own .network of the parent) make networkd, on a
 * plain `networkctl reload`, re-apply the parent's .network and request the stacked
 * VLAN from it. Removing them and reloading gives the parent back its own
 * configuration.
 *
 * On a kernel without 8021q networkd's request fails and marks the *parent* failed:
 * that is why the driver probes for 802.1Q before it writes anything (the e2e tests
 * check that volt then changes nothing).
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderVlanUnits, vlanUnitNames } from '@volt/plugin-networkd/dist/index';
import { probe8021q } from '@volt/sdk/kernel';
import { SandboxHost, waitFor } from '../harness';

async function adminState(host: SandboxHost, ifname: string): Promise<string | undefined> {
  const r = await host.exec('networkctl', ['status', ifname, '--json=short']);
  return r.code === 0 ? (JSON.parse(r.stdout) as { AdministrativeState?: string }).AdministrativeState : undefined;
}

test('networkd takes the VLAN from a drop-in for the parent\'s own .network, on reload, and lets go of it again', async (t) => {
  const support = await probe8021q();
  const host = await SandboxHost.create(t, { networkd: true, uplink: false });
  const dir = path.join(host.root, 'etc/systemd/network');
  // A bridge and the operator's uplink, both as networkd units.
  fs.writeFileSync(path.join(dir, '10-vtbr0.netdev'), '[NetDev]\nName=vtbr0\nKind=bridge\n');
  fs.writeFileSync(path.join(dir, '10-vtbr0.network'), '[Match]\nName=vtbr0\n\n[Network]\nConfigureWithoutCarrier=yes\nLinkLocalAddressing=no\n');
  fs.writeFileSync(path.join(dir, '20-eth1.network'), '[Match]\nName=eth1\n\n[Network]\nAddress=192.0.2.1/24\nLinkLocalAddressing=no\nConfigureWithoutCarrier=yes\n');
  await host.execOk('ip', ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1p']);
  await host.execOk('networkctl', ['reload']);
  await waitFor(async () => (await adminState(host, 'eth1')) === 'configured' && (await adminState(host, 'vtbr0')) === 'configured', { timeoutMs: 10_000 });

  const units = renderVlanUnits({ ifname: 'eth1.100', parent: 'eth1', id: 100, bridge: 'vtbr0', network: 'backend' }, '20-eth1.network');
  fs.mkdirSync(path.join(dir, '20-eth1.network.d'));
  for (const u of [units.netdev, units.network, units.dropin]) fs.writeFileSync(path.join(dir, u.name), u.content);
  await host.execOk('networkctl', ['reload']);

  // networkd saw the changed .network (the drop-in) and asked for the stacked VLAN, with no parse warnings.
  const requested = await waitFor(() => (/eth1: Requested stacked netdev 'eth1\.100'/.test(host.networkdLog(2000)) ? host.networkdLog(2000) : false), { timeoutMs: 10_000 });
  t.regex(requested, /Found updated \.network file: \/etc\/systemd\/network\/20-eth1\.network/);
  t.notRegex(requested, /10-volt-vlan-eth1\.100\.(netdev|network):\d+: /, 'no warnings about volt\'s units');
  if (support.ok) {
    const linkOf = async (): Promise<{ master?: string; linkinfo?: { info_data?: { id?: number } } } | false> => {
      const r = await host.exec('ip', ['-j', '-d', 'link', 'show', 'eth1.100']);
      const l = r.code === 0 ? (JSON.parse(r.stdout) as { master?: string; linkinfo?: { info_data?: { id?: number } } }[])[0] : undefined;
      return l?.master === 'vtbr0' ? l : false;
    };
    const l = await waitFor(linkOf, { timeoutMs: 10_000 });
    t.is(l && l.linkinfo?.info_data?.id, 100);
  } else {
    t.log(`kernel without 802.1Q (${support.reason}): networkd's attempt fails, as expected`);
    const failed = await waitFor(() => (/eth1: Could not create stacked netdev/.test(host.networkdLog(2000)) ? true : false), { timeoutMs: 10_000 });
    t.true(failed);
    t.is(await waitFor(async () => ((await adminState(host, 'eth1')) === 'failed' ? 'failed' : false), { timeoutMs: 10_000 }), 'failed', 'the parent goes failed: hence the probe before writing');
  }

  // Removing volt's units and the drop-in gives the parent back its own configuration.
  for (const u of [vlanUnitNames('eth1.100').netdev, vlanUnitNames('eth1.100').network, units.dropin.name]) fs.rmSync(path.join(dir, u));
  fs.rmdirSync(path.join(dir, '20-eth1.network.d'));
  await host.execOk('networkctl', ['reload']);
  await host.exec('ip', ['link', 'del', 'eth1.100']);
  if (!support.ok) await host.execOk('networkctl', ['reconfigure', 'eth1']);
  await waitFor(async () => (await adminState(host, 'eth1')) === 'configured', { timeoutMs: 10_000 });
  const addr = await host.execJson<{ addr_info: { local: string }[] }[]>('ip', ['-j', 'addr', 'show', 'dev', 'eth1']);
  t.deepEqual(addr[0]?.addr_info.map((a) => a.local), ['192.0.2.1']);
});
