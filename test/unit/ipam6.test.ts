import test from 'ava';
import { planNetwork, bridgeMac, type PlanContext } from '@volt/core/dist/services/network/network-plan';
import { allocateAddress6, rangesOf6 } from '@volt/core/dist/services/network/ipam';
import { pendingAttachments } from '@volt/core/dist/state/journal';
import { formatIPv6 } from '@volt/core/dist/net/ipv6';
import { bridgeSpec } from '@volt/core/dist/services/network/network-service';
import { dhcpSpec } from '@volt/core/dist/services/vm/dhcp-leases';
import { renderDnsmasqConf } from '@volt/plugin-direct/dist/dnsmasq-dhcp';
import type { AttachmentRecord, NetworkRecord, PendingRecord, VoltState } from '@volt/core/dist/state/types';

const base: NetworkRecord = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', mtu: 1500, nat: true, mac: bridgeMac('backend'), isDefault: false, createdAt: 'x' };
const net: NetworkRecord = { ...base, subnet6: 'fd00:30::/64', gateway6: 'fd00:30::1', ipv6Mode: 'nat' };
const ctx: PlanContext = { existing: [net], hostRoutes: [], defaultMtu: 1500, defaultName: 'volt0', now: 'x' };
const att = (workload: string, ip: string, ip6?: string, kind: 'veth' | 'tap' = 'veth'): AttachmentRecord => ({
  workload,
  network: 'backend',
  ip,
  ...(ip6 !== undefined ? { ip6 } : {}),
  mac: '52:54:00:12:34:56',
  kind,
  ifname: 'eth0',
  hostIfname: 'vh1',
  createdAt: 'x',
});

test('net create: subnet6 canonical, gateway ::1, mode nat by default; routed kept', (t) => {
  const n = planNetwork({ name: 'front', subnet: '10.20.0.0/24', subnet6: 'FD00:20:0:0::/64' }, ctx);
  t.is(n.subnet6, 'fd00:20::/64');
  t.is(n.gateway6, 'fd00:20::1');
  t.is(n.ipv6Mode, 'nat');
  t.is(planNetwork({ name: 'pub', subnet: '10.21.0.0/24', subnet6: '2001:db8:1::/64', ipv6Mode: 'routed' }, ctx).ipv6Mode, 'routed');
  const v4 = planNetwork({ name: 'old', subnet: '10.22.0.0/24' }, ctx);
  t.false('subnet6' in v4 || 'gateway6' in v4 || 'ipv6Mode' in v4, 'an IPv4-only record keeps its old shape');
});

test('net create refuses bad v6 input (table)', (t) => {
  const rows: [subnet6: string | undefined, mode: string | undefined, code: string, msg: RegExp][] = [
    ['fd00:30::8000:0:0:0/65', undefined, 'E_SUBNET_OVERLAP', /overlaps network "backend"/],
    ['fd00::/16', undefined, 'E_SUBNET6_INVALID', /too large/],
    ['fd00:31::/121', undefined, 'E_SUBNET6_INVALID', /longest prefix is \/120/],
    ['fd00:31::1/64', undefined, 'E_SUBNET6_INVALID', /host bits/],
    ['fe80::/64', undefined, 'E_SUBNET6_INVALID', /neither a unique local/],
    ['::/64', undefined, 'E_SUBNET6_INVALID', /neither a unique local/],
    ['fd00:31::/64%eth0', undefined, 'E_SUBNET6_INVALID', /not an IPv6 prefix/],
    ['10.0.0.0/24', undefined, 'E_SUBNET6_INVALID', /colons/],
    ['fd00:31::/64', 'nat66', 'E_IPV6_MODE_INVALID', /not one of nat, routed/],
    [undefined, 'routed', 'E_IPV6_MODE_INVALID', /needs an IPv6 prefix/],
  ];
  for (const [subnet6, ipv6Mode, code, msg] of rows) {
    const e = t.throws(() => planNetwork({ name: 'x', subnet: '10.61.0.0/24', subnet6, ipv6Mode }, ctx), undefined, String(subnet6));
    t.is((e as { code?: string }).code, code, String(subnet6));
    t.regex(e!.message, msg, String(subnet6));
  }
});

test('ranges mirror the IPv4 split; containers take their IPv4 host part; static --ip6 checked', (t) => {
  const r = rangesOf6(net)!;
  t.deepEqual([formatIPv6(r.vm.first), formatIPv6(r.vm.last), formatIPv6(r.container.first), formatIPv6(r.container.last)], ['fd00:30::2', 'fd00:30::63', 'fd00:30::64', 'fd00:30::fe']);
  t.is(rangesOf6(base), undefined);
  t.is(allocateAddress6(net, [], 'container', undefined, 'x', { ip: '10.30.0.120' }), 'fd00:30::78');
  // That host part is taken: the first free address of the range.
  t.is(allocateAddress6(net, [att('a', '10.30.0.100', 'fd00:30::78')], 'container', undefined, 'x', { ip: '10.30.0.120' }), 'fd00:30::64');
  t.is(allocateAddress6(net, [], 'container', 'fd00:30:0:0:0:0:0:a', 'x'), 'fd00:30::a');
  const taken = [att('web', '10.30.0.100', 'fd00:30::a')];
  for (const [ip6, code] of [
    ['fd00:30::a', 'E_IP_TAKEN'],
    ['fd00:30::1', 'E_IP6_RESERVED'],
    ['fd00:30::', 'E_IP6_RESERVED'],
    ['fd00:31::5', 'E_IP6_OUTSIDE'],
    ['fd00:30::5%eth0', 'E_IP6_INVALID'],
    [':::', 'E_IP6_INVALID'],
    ['10.30.0.5', 'E_IP6_INVALID'],
  ] as const) {
    const e = t.throws(() => allocateAddress6(net, taken, 'container', ip6, 'x'), undefined, ip6);
    t.is((e as { code?: string }).code, code, ip6);
  }
  t.is((t.throws(() => allocateAddress6(base, [], 'container', 'fd00:30::5', 'x')) as { code?: string }).code, 'E_IP6_NO_SUBNET6');
  t.is(allocateAddress6(base, [], 'container', undefined, 'x'), undefined);
});

test('VM NICs on a /64 get the EUI-64 (SLAAC) address of their MAC; elsewhere the VM range', (t) => {
  t.is(allocateAddress6(net, [], 'vm', undefined, 'x', { ip: '10.30.0.2', mac: '52:54:00:12:34:56' }), 'fd00:30::5054:ff:fe12:3456');
  const e = t.throws(() => allocateAddress6(net, [att('other', '10.30.0.5', 'fd00:30::5054:ff:fe12:3456')], 'vm', undefined, 'x', { mac: '52:54:00:12:34:56' }));
  t.is((e as { code?: string }).code, 'E_IP_TAKEN');
  const n80: NetworkRecord = { ...net, subnet6: 'fd00:30::/80' };
  t.is(allocateAddress6(n80, [], 'vm', undefined, 'x', { ip: '10.30.0.2', mac: '52:54:00:12:34:56' }), 'fd00:30::2');
  // A /120 is smaller than the IPv4 split of a /16: the ranges are clamped to the prefix.
  const small: NetworkRecord = { ...base, subnet: '10.50.0.0/16', gateway: '10.50.0.1', subnet6: 'fd00:50::/120', gateway6: 'fd00:50::1' };
  const r = rangesOf6(small)!;
  t.is(formatIPv6(r.container.last), 'fd00:50::ff');
});

test('a pending connect keeps its v6 address taken, as its v4 one', (t) => {
  const rec: PendingRecord = { id: '1', op: 'connect', object: 'api on backend', pid: 2 ** 22 + 7, startedAt: 'x', steps: [{ name: 'veth', done: true }], attachment: att('api', '10.30.0.100', 'fd00:30::64') };
  const state = { networks: { backend: net }, attachments: [], pending: [rec] } as unknown as VoltState;
  t.is(allocateAddress6(net, [...state.attachments, ...pendingAttachments(state)], 'container', undefined, 'x', { ip: '10.30.0.101' }), 'fd00:30::65');
  t.is((t.throws(() => allocateAddress6(net, pendingAttachments(state), 'container', 'fd00:30::64', 'x')) as { code?: string }).code, 'E_IP_TAKEN');
});

test('bridge spec and guest DHCP of a dual-stack network', (t) => {
  const spec = bridgeSpec(net);
  t.is(spec.address6, 'fd00:30::1/64');
  t.regex(spec.linkLocal6!, /^fe80::[0-9a-f:]+\/64$/);
  t.is(spec.prefix6, 'fd00:30::/64');
  t.is(bridgeSpec(base).address6, undefined);
  const state = { networks: { backend: net }, attachments: [att('vm1', '10.30.0.2', 'fd00:30::5054:ff:fe12:3456', 'tap')] } as unknown as VoltState;
  const d = dhcpSpec(state, 'backend')!;
  t.is(d.subnet6, 'fd00:30::/64');
  t.deepEqual(d.leases.map((l) => l.ip6), ['fd00:30::5054:ff:fe12:3456']);
  const conf = renderDnsmasqConf(d, '/run/x');
  for (const line of ['enable-ra', 'dhcp-range=fd00:30::,static,slaac,64', 'dhcp-host=52:54:00:12:34:56,10.30.0.2,[fd00:30::5054:ff:fe12:3456],vm1', 'dhcp-option=option6:dns-server,[fd00:30::1]']) {
    t.true(conf.split('\n').includes(line), line);
  }
  const v4 = renderDnsmasqConf(dhcpSpec({ ...state, networks: { backend: base } } as unknown as VoltState, 'backend')!, '/run/x');
  t.false(v4.includes('enable-ra') || v4.includes('['), 'IPv4-only networks: no RA, no DHCPv6');
});
