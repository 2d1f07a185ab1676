import test from 'ava';
import type { HostLink } from '@volt/sdk/kernel';
import { parseVlanLinks } from '@volt/sdk/kernel';
import { planVlan, vlanDrift, vlanSpec, vlanStatus, type CreateVlanRequest } from '@volt/core/dist/services/network/vlan-plan';
import { emptyState, type VoltState } from '@volt/core/dist/state/types';

function state(): VoltState {
  const s = emptyState();
  s.networks.backend = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', mtu: 1500, nat: true, mac: '02:00:00:00:00:01', isDefault: false, createdAt: 'x' };
  s.networks.db = { name: 'db', bridge: 'volt-db', subnet: '10.40.0.0/24', gateway: '10.40.0.1', mtu: 1500, nat: true, mac: '02:00:00:00:00:02', isDefault: false, createdAt: 'x' };
  s.vlans['eth1.7'] = { name: 'eth1.7', parent: 'eth1', id: 7, network: 'db', createdAt: 'x' };
  return s;
}

const links: HostLink[] = [
  { ifname: 'lo', exists: true, up: true, linkType: 'loopback' },
  { ifname: 'eth0', exists: true, up: true, linkType: 'ether' },
  { ifname: 'eth1', exists: true, up: true, linkType: 'ether' },
  { ifname: 'volt-backend', exists: true, up: true, kind: 'bridge', linkType: 'ether' },
  { ifname: 'br9', exists: true, up: true, kind: 'bridge', linkType: 'ether' },
  { ifname: 'hx1', exists: true, up: true, kind: 'veth', master: 'volt-backend', linkType: 'ether' },
  { ifname: 'eth1.7', exists: true, up: true, kind: 'vlan', parent: 'eth1', id: 7, master: 'volt-db', linkType: 'ether' },
  { ifname: 'eth0.99', exists: true, up: true, kind: 'vlan', parent: 'eth0', id: 99, linkType: 'ether' },
  { ifname: 'taken', exists: true, up: true, kind: 'dummy', linkType: 'ether' },
];

const ctx = () => ({ state: state(), links, now: '2026-01-01T00:00:00.000Z' });

test('a valid request becomes a record; the name defaults to PARENT.ID', (t) => {
  t.deepEqual(planVlan({ parent: 'eth0', id: '100', network: 'backend' }, ctx()), {
    name: 'eth0.100',
    parent: 'eth0',
    id: 100,
    network: 'backend',
    createdAt: '2026-01-01T00:00:00.000Z',
  });
  t.deepEqual(planVlan({ parent: 'eth0', id: 4094, name: 'uplink' }, ctx()), { name: 'uplink', parent: 'eth0', id: 4094, createdAt: '2026-01-01T00:00:00.000Z' });
  t.is(planVlan({ parent: 'eth0', id: '1' }, ctx()).name, 'eth0.1');
});

// One row per input, the expected exit code and error code beside it.
const rows: [string, CreateVlanRequest, number, string, RegExp][] = [
  ['id 0', { parent: 'eth0', id: '0' }, 2, 'E_VLAN_ID', /--id "0" is not a VLAN id/],
  ['id 4095', { parent: 'eth0', id: '4095' }, 2, 'E_VLAN_ID', /1–4094/],
  ['id not a number', { parent: 'eth0', id: 'ten' }, 2, 'E_VLAN_ID', /"ten"/],
  ['id negative', { parent: 'eth0', id: '-5' }, 2, 'E_VLAN_ID', /"-5"/],
  ['id fraction', { parent: 'eth0', id: '1.5' }, 2, 'E_VLAN_ID', /"1\.5"/],
  ['name too long', { parent: 'eth0', id: '5', name: 'a-very-long-name' }, 2, 'E_VLAN_NAME', /not a valid interface name/],
  ['name with a slash', { parent: 'eth0', id: '5', name: 'a/b' }, 2, 'E_VLAN_NAME', /not a valid interface name/],
  ['default name too long', { parent: 'enp0s31f6abcd', id: '100' }, 2, 'E_VLAN_NAME', /default name "enp0s31f6abcd\.100" is longer/],
  ['parent bad name', { parent: 'eth 0', id: '5' }, 2, 'E_VLAN_PARENT_INVALID', /parent "eth 0" is not a valid/],
  ['loopback parent', { parent: 'lo', id: '5' }, 2, 'E_VLAN_PARENT_INVALID', /parent lo is the loopback device/],
  ['volt bridge parent', { parent: 'volt-backend', id: '5' }, 2, 'E_VLAN_PARENT_INVALID', /is the bridge of network "backend"/],
  ['other bridge parent', { parent: 'br9', id: '5' }, 2, 'E_VLAN_PARENT_INVALID', /parent br9 is a bridge/],
  ['volt port parent', { parent: 'hx1', id: '5' }, 2, 'E_VLAN_PARENT_INVALID', /is a port of network "backend"/],
  ['VLAN parent', { parent: 'eth0.99', id: '5' }, 2, 'E_VLAN_PARENT_INVALID', /is itself a VLAN/],
  ['missing parent', { parent: 'eth9', id: '5' }, 3, 'E_VLAN_PARENT_NOT_FOUND', /parent interface "eth9" does not exist/],
  ['missing network', { parent: 'eth0', id: '5', network: 'nope' }, 3, 'E_NETWORK_NOT_FOUND', /network "nope" does not exist/],
  ['name taken in state', { parent: 'eth0', id: '8', name: 'eth1.7' }, 4, 'E_VLAN_EXISTS', /already exists \(id 7 on eth1\)/],
  ['same parent and id', { parent: 'eth1', id: '7', name: 'other' }, 4, 'E_VLAN_DUPLICATE', /VLAN 7 on eth1 already exists as "eth1\.7"/],
  ['name of a bridge', { parent: 'eth0', id: '8', name: 'volt-db' }, 4, 'E_LINK_EXISTS', /the bridge of network "db"/],
  ['name taken in the kernel', { parent: 'eth0', id: '8', name: 'taken' }, 4, 'E_LINK_EXISTS', /already exists in the kernel/],
  ['same parent and id in the kernel', { parent: 'eth0', id: '99', name: 'mine' }, 4, 'E_VLAN_DUPLICATE', /kernel already has VLAN 99 on eth0/],
  ['second uplink of a network', { parent: 'eth0', id: '8', network: 'db' }, 4, 'E_NETWORK_HAS_UPLINK', /already has the uplink "eth1\.7"/],
];

for (const [label, req, exit, code, message] of rows) {
  test(`refused: ${label}`, (t) => {
    const e = t.throws(() => planVlan(req, ctx())) as Error & { exitCode: number; code: string };
    t.is(e.exitCode, exit);
    t.is(e.code, code);
    t.regex(e.message, message);
    t.false(e.message.includes('\n'), 'one line');
  });
}

test('the spec carries the bridge of its network, or none', (t) => {
  const s = state();
  t.deepEqual(vlanSpec(s.vlans['eth1.7']!, s), { ifname: 'eth1.7', parent: 'eth1', id: 7, bridge: 'volt-db', network: 'db' });
  t.deepEqual(vlanSpec({ name: 'x', parent: 'eth0', id: 3, createdAt: 'x' }, s), { ifname: 'x', parent: 'eth0', id: 3 });
});

test('drift: missing, wrong link, down, off its bridge, on a bridge without a network', (t) => {
  const s = state();
  const v = s.vlans['eth1.7']!;
  const ok = { ifname: 'eth1.7', exists: true, kind: 'vlan', parent: 'eth1', id: 7, up: true, master: 'volt-db' };
  t.deepEqual(vlanDrift(v, ok, s), []);
  t.is(vlanStatus(v, ok, s), 'up');
  t.deepEqual(vlanDrift(v, { ifname: 'eth1.7', exists: false, up: false }, s), ['VLAN eth1.7 (id 7 on eth1) is missing']);
  t.is(vlanStatus(v, { ifname: 'eth1.7', exists: false, up: false }, s), 'missing');
  t.deepEqual(vlanDrift(v, { ...ok, kind: 'dummy', parent: undefined, id: undefined }, s), ['interface eth1.7 is a dummy link, not VLAN 7 on eth1']);
  t.deepEqual(vlanDrift(v, { ...ok, id: 8 }, s), ['interface eth1.7 is VLAN 8 on eth1, not VLAN 7 on eth1']);
  t.deepEqual(vlanDrift(v, { ...ok, up: false }, s), ['VLAN eth1.7 (id 7 on eth1) is down']);
  t.is(vlanStatus(v, { ...ok, up: false }, s), 'down');
  t.deepEqual(vlanDrift(v, { ...ok, master: undefined }, s), ['VLAN eth1.7 (id 7 on eth1) is not on bridge volt-db (uplink of network "db")']);
  t.is(vlanStatus(v, { ...ok, master: undefined }, s), 'drift');
  const free = { name: 'eth0.5', parent: 'eth0', id: 5, createdAt: 'x' };
  t.deepEqual(vlanDrift(free, { ifname: 'eth0.5', exists: true, kind: 'vlan', parent: 'eth0', id: 5, up: true, master: 'br9' }, s), [
    'VLAN eth0.5 (id 5 on eth0) is on bridge br9 but belongs to no network',
  ]);
});

test('ip -j -d link output: VLAN id, protocol and parent; a veth peer is not a parent', (t) => {
  const json = JSON.stringify([
    { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP'], link_type: 'loopback' },
    { ifindex: 3, link: 'v1', ifname: 'v0', flags: ['UP'], link_type: 'ether', linkinfo: { info_kind: 'veth' } },
    {
      ifindex: 4,
      link: 'v0',
      ifname: 'v0.10',
      flags: ['BROADCAST', 'UP', 'LOWER_UP'],
      master: 'volt-backend',
      link_type: 'ether',
      linkinfo: { info_kind: 'vlan', info_data: { protocol: '802.1Q', id: 10, flags: ['REORDER_HDR'] }, info_slave_kind: 'bridge' },
    },
  ]);
  t.deepEqual(parseVlanLinks(json), [
    { ifname: 'lo', exists: true, kind: undefined, parent: undefined, id: undefined, protocol: undefined, up: true, master: undefined, linkType: 'loopback' },
    { ifname: 'v0', exists: true, kind: 'veth', parent: undefined, id: undefined, protocol: undefined, up: true, master: undefined, linkType: 'ether' },
    { ifname: 'v0.10', exists: true, kind: 'vlan', parent: 'v0', id: 10, protocol: '802.1Q', up: true, master: 'volt-backend', linkType: 'ether' },
  ]);
});
