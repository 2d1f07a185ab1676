import test from 'ava';
import { planNetwork, bridgeMac, type PlanContext, type CreateNetworkRequest } from '@volt/core/dist/services/network/network-plan';
import type { NetworkRecord } from '@volt/core/dist/state/types';

const existing: NetworkRecord[] = [
  { name: 'volt0', bridge: 'volt0', subnet: '10.0.0.0/24', gateway: '10.0.0.1', mtu: 1500, nat: true, mac: bridgeMac('volt0'), isDefault: true, createdAt: 'x' },
  { name: 'db', bridge: 'volt-db', subnet: '10.40.0.0/16', gateway: '10.40.0.1', mtu: 1500, nat: false, mac: bridgeMac('db'), isDefault: false, createdAt: 'x' },
];
const ctx: PlanContext = {
  existing,
  hostRoutes: [
    { dst: 'default' },
    { dst: '192.168.122.0/24', dev: 'eth0' },
    { dst: '10.0.0.0/24', dev: 'volt0' },
  ],
  defaultMtu: 1500,
  defaultName: 'volt0',
  now: '2026-01-01T00:00:00.000Z',
};

test('a valid request gets the first host as gateway and a volt- bridge', (t) => {
  const n = planNetwork({ name: 'backend', subnet: '10.30.0.0/24' }, ctx);
  t.is(n.bridge, 'volt-backend');
  t.is(n.gateway, '10.30.0.1');
  t.is(n.mtu, 1500);
  t.true(n.nat);
  t.false(n.isDefault);
  t.regex(n.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
  t.is(parseInt(n.mac.slice(0, 2), 16) & 0x03, 0x02, 'locally administered unicast');
});

test('gateway, MTU, no-nat and --bridge are honoured', (t) => {
  const n = planNetwork({ name: 'storage-east', subnet: '10.60.0.0/24', gateway: '10.60.0.254', mtu: 9000, nat: false, bridge: 'vstor-e' }, ctx);
  t.is(n.gateway, '10.60.0.254');
  t.is(n.mtu, 9000);
  t.false(n.nat);
  t.is(n.bridge, 'vstor-e');
});

test('the default network carries its own name as bridge', (t) => {
  const n = planNetwork({ name: 'volt0', subnet: '10.0.0.0/24' }, { ...ctx, existing: [] , hostRoutes: [] });
  t.is(n.bridge, 'volt0');
  t.true(n.isDefault);
});

const rejects: [string, CreateNetworkRequest, string, RegExp][] = [
  ['malformed CIDR', { name: 'a', subnet: '10.30.0/24' }, 'E_SUBNET_INVALID', /not an IPv4 subnet/],
  ['no prefix', { name: 'a', subnet: '10.30.0.0' }, 'E_SUBNET_INVALID', /CIDR/],
  ['octet out of range', { name: 'a', subnet: '10.300.0.0/24' }, 'E_SUBNET_INVALID', /not an IPv4/],
  ['host bits set', { name: 'a', subnet: '10.30.0.5/24' }, 'E_SUBNET_HOST_BITS', /host bits/],
  ['/31', { name: 'a', subnet: '10.30.0.0/31' }, 'E_SUBNET_TOO_SMALL', /no room/],
  ['/32', { name: 'a', subnet: '10.30.0.1/32' }, 'E_SUBNET_TOO_SMALL', /no room/],
  ['absurdly large', { name: 'a', subnet: '0.0.0.0/1' }, 'E_SUBNET_TOO_LARGE', /too large/],
  ['/7', { name: 'a', subnet: '10.0.0.0/7' }, 'E_SUBNET_TOO_LARGE', /too large/],
  ['overlap with a network', { name: 'a', subnet: '10.40.3.0/24' }, 'E_SUBNET_OVERLAP', /overlaps network "db"/],
  ['overlap containing a network', { name: 'a', subnet: '10.0.0.0/8' }, 'E_SUBNET_OVERLAP', /overlaps network/],
  ['overlap with a host route', { name: 'a', subnet: '192.168.122.0/25' }, 'E_SUBNET_OVERLAP_HOST', /host route 192\.168\.122\.0\/24 dev eth0/],
  ['duplicate name', { name: 'db', subnet: '10.70.0.0/24' }, 'E_NETWORK_EXISTS', /already exists/],
  ['name too long for a bridge', { name: 'verylongname', subnet: '10.70.0.0/24' }, 'E_BRIDGE_NAME', /at most 15/],
  ['illegal characters', { name: 'Back end!', subnet: '10.70.0.0/24' }, 'E_NAME_INVALID', /lower-case/],
  ['empty name', { name: '', subnet: '10.70.0.0/24' }, 'E_NAME_INVALID', /1-32/],
  ['gateway outside', { name: 'a', subnet: '10.70.0.0/24', gateway: '10.71.0.1' }, 'E_GATEWAY_OUTSIDE', /outside/],
  ['gateway is the network address', { name: 'a', subnet: '10.70.0.0/24', gateway: '10.70.0.0' }, 'E_GATEWAY_RESERVED', /network address/],
  ['gateway is broadcast', { name: 'a', subnet: '10.70.0.0/24', gateway: '10.70.0.255' }, 'E_GATEWAY_RESERVED', /broadcast/],
  ['gateway not an address', { name: 'a', subnet: '10.70.0.0/24', gateway: 'gw' }, 'E_GATEWAY_INVALID', /not an IPv4/],
  ['MTU too small', { name: 'a', subnet: '10.70.0.0/24', mtu: 100 }, 'E_MTU_INVALID', /out of range/],
  ['bridge name taken by a network', { name: 'a', subnet: '10.70.0.0/24', bridge: 'volt-db' }, 'E_BRIDGE_EXISTS', /belongs to network "db"/],
];

for (const [title, req, code, message] of rejects) {
  test(`rejects ${title}`, (t) => {
    const e = t.throws(() => planNetwork(req, ctx)) as Error & { code: string; exitCode: number; suggestions: string[] };
    t.is(e.code, code);
    t.regex(e.message, message);
    t.regex(e.message, new RegExp(`^create network "${req.name.replace(/[!]/g, '\\!')}"`));
    t.true(e.exitCode >= 2);
  });
}

test('a long name suggests a --bridge that fits', (t) => {
  const e = t.throws(() => planNetwork({ name: 'verylongname', subnet: '10.70.0.0/24' }, ctx)) as Error & { suggestions: string[] };
  const m = /--bridge (\S+)/.exec(e.suggestions.join(' '));
  t.truthy(m);
  t.true(m![1]!.length <= 15);
});

test('bridge MACs are stable per name and differ between names', (t) => {
  t.is(bridgeMac('backend'), bridgeMac('backend'));
  t.not(bridgeMac('backend'), bridgeMac('frontend'));
});
