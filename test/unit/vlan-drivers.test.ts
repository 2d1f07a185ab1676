import test from 'ava';
import type { VlanSpec } from '@volt/sdk';
import { checkVlanSpec } from '@volt/sdk/kernel';
import { planVlan } from '@volt/plugin-direct/dist/index';
import { renderVlanUnits, vlanDropinFile, vlanUnitNames } from '@volt/plugin-networkd/dist/index';

const uplink: VlanSpec = { ifname: 'eth0.200', parent: 'eth0', id: 200, bridge: 'volt-backend', network: 'backend' };
const free: VlanSpec = { ifname: 'eth0.300', parent: 'eth0', id: 300 };

test('direct: a new uplink is one ip -batch: add, no link-local, enslave, up', (t) => {
  t.deepEqual(planVlan(uplink, undefined, true), [
    'link add link eth0 name eth0.200 type vlan id 200',
    'link set dev eth0.200 alias volt:vlan/200',
    'link set dev eth0.200 addrgenmode none',
    'link set dev eth0.200 master volt-backend',
    'link set dev eth0.200 up',
  ]);
  t.deepEqual(planVlan(free, undefined, false), ['link add link eth0 name eth0.300 type vlan id 300', 'link set dev eth0.300 alias volt:vlan/300', 'link set dev eth0.300 up']);
});

test('direct: a converged VLAN plans nothing; drift plans only the repair', (t) => {
  const obs = { ifname: 'eth0.200', exists: true, kind: 'vlan', parent: 'eth0', id: 200, up: true, master: 'volt-backend' };
  t.deepEqual(planVlan(uplink, obs, true), []);
  t.deepEqual(planVlan(uplink, { ...obs, master: undefined, up: false }, true), ['link set dev eth0.200 master volt-backend', 'link set dev eth0.200 up']);
  t.deepEqual(planVlan({ ...uplink, bridge: undefined, network: undefined }, obs, true), ['link set dev eth0.200 nomaster']);
});

test('networkd: .netdev Kind=vlan with [VLAN] Id=, .network joins the bridge, drop-in adds VLAN= to the parent\'s .network', (t) => {
  const u = renderVlanUnits(uplink, '20-eth0.network');
  t.deepEqual(vlanUnitNames('eth0.200'), { netdev: '10-volt-vlan-eth0.200.netdev', network: '10-volt-vlan-eth0.200.network' });
  t.is(u.netdev.name, '10-volt-vlan-eth0.200.netdev');
  t.is(
    u.netdev.content,
    '# Managed by volt — network "backend". Changes are overwritten. VLAN 200 on eth0, uplink of the bridge.\n[NetDev]\nName=eth0.200\nKind=vlan\n\n[VLAN]\nId=200\n',
  );
  t.is(
    u.network.content,
    '# Managed by volt — network "backend". Changes are overwritten. VLAN 200 on eth0, uplink of the bridge.\n[Match]\nName=eth0.200\n\n[Link]\nRequiredForOnline=no\n\n[Network]\nBridge=volt-backend\nLinkLocalAddressing=no\nConfigureWithoutCarrier=yes\n',
  );
  t.is(u.dropin.name, `20-eth0.network.d/${vlanDropinFile('eth0.200')}`);
  t.is(u.dropin.name, '20-eth0.network.d/50-volt-vlan-eth0.200.conf');
  t.regex(u.dropin.content, /^# Managed by volt — adds VLAN eth0\.200 \(id 200\) to 20-eth0\.network\. Removed with the VLAN\.\n\[Network\]\nVLAN=eth0\.200\n$/);
});

test('networkd: a VLAN on no network has no Bridge=', (t) => {
  const u = renderVlanUnits(free, '20-eth0.network');
  t.notRegex(u.network.content, /Bridge=/);
  t.regex(u.network.content, /^# Managed by volt — VLAN 300 on eth0, on no network\./);
});

test('drivers re-check specs before pasting them into ip -batch or units', (t) => {
  t.notThrows(() => checkVlanSpec(uplink));
  for (const bad of [
    { ...uplink, ifname: 'x\nlink del eth0' },
    { ...uplink, parent: 'eth0 up' },
    { ...uplink, bridge: '' },
    { ...uplink, id: 0 },
    { ...uplink, id: 4095 },
    { ...uplink, network: 'a\nb' },
  ]) {
    const e = t.throws(() => checkVlanSpec(bad)) as Error & { code: string };
    t.is(e.code, 'E_VLAN_SPEC');
  }
});
