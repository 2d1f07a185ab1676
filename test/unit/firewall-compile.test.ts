import test from 'ava';
import { compileRuleSet } from '@volt/core/dist/services/firewall/firewall-compile';
import { emptyState, type AttachmentRecord, type FirewallRuleRecord, type NetworkRecord, type VoltState } from '@volt/core/dist/state/types';

function net(name: string, third: number): NetworkRecord {
  return { name, bridge: `volt-${name}`, subnet: `10.${third}.0.0/24`, gateway: `10.${third}.0.1`, mtu: 1500, nat: true, mac: '02:00:00:00:00:01', isDefault: false, createdAt: '' };
}

function att(workload: string, network: string, ip: string): AttachmentRecord {
  return { workload, network, ip, mac: '02:00:00:00:00:02', kind: 'veth', ifname: 'eth0', hostIfname: 'vhx', createdAt: '' };
}

function rule(name: string, order: number, over: Partial<FirewallRuleRecord>): FirewallRuleRecord {
  return { name, order, source: 'any', dest: 'any', ports: [], proto: 'any', action: 'accept', chains: ['forward'], createdAt: '', ...over };
}

function state(): VoltState {
  const s = emptyState();
  s.networks = { backend: net('backend', 30), frontend: net('frontend', 20), empty: net('empty', 40) };
  s.attachments = [att('web', 'backend', '10.30.0.10'), att('web', 'frontend', '10.20.0.10'), att('db', 'backend', '10.30.0.11')];
  return s;
}

test('workload names become address groups (all addresses, or one network’s)', (t) => {
  const s = state();
  s.firewall.rules = [
    rule('a', 1024, { source: 'web', dest: 'db', ports: ['5432', '6000-6010'], proto: 'tcp' }),
    rule('b', 2048, { source: 'web', network: 'frontend', chains: ['input', 'forward'] }),
    rule('c', 3072, { dest: '10.30.0.0/24', action: 'drop' }),
    rule('d', 4096, { dest: 'host', chains: ['input'] }),
  ];
  const rs = compileRuleSet(s);
  t.deepEqual(rs.groups, { web: ['10.30.0.10', '10.20.0.10'], db: ['10.30.0.11'], 'web@frontend': ['10.20.0.10'] });
  t.deepEqual(rs.rules.map((r) => [r.name, r.chain, r.source, r.dest, r.inBridge]), [
    ['a', 'forward', { kind: 'group', group: 'web' }, { kind: 'group', group: 'db' }, undefined],
    ['b', 'input', { kind: 'group', group: 'web@frontend' }, { kind: 'any' }, 'volt-frontend'],
    ['b', 'forward', { kind: 'group', group: 'web@frontend' }, { kind: 'any' }, 'volt-frontend'],
    ['c', 'forward', { kind: 'any' }, { kind: 'cidr', cidr: '10.30.0.0/24' }, undefined],
    ['d', 'input', { kind: 'any' }, { kind: 'any' }, undefined],
  ]);
  t.deepEqual(rs.rules[0]!.ports, [{ from: 5432, to: 5432 }, { from: 6000, to: 6010 }]);
  t.deepEqual(rs.networks.map((n) => n.name), ['backend', 'frontend'], 'only networks with workloads');
});

test('compiling the same records twice gives the same rule objects (a change renders only what changed)', (t) => {
  const s = state();
  s.firewall.rules = [rule('a', 1024, { dest: 'db' }), rule('b', 2048, { dest: 'web' })];
  const one = compileRuleSet(s);
  s.attachments = s.attachments.filter((a) => a.workload !== 'db');
  const two = compileRuleSet(s);
  t.is(one.rules[0], two.rules[0]);
  t.deepEqual(two.groups.db, [], 'the group follows the attachments');
  s.firewall.rules[0]!.order = 512;
  t.not(compileRuleSet(s).rules[0], one.rules[0], 'respaced rules are compiled again');
});

test('a rule scoped to a network that no longer exists matches nothing (it does not become unscoped)', (t) => {
  const s = state();
  s.firewall.rules = [rule('gone', 1024, { network: 'deleted', action: 'accept' })];
  t.deepEqual(compileRuleSet(s).rules, []);
});

test('forwards resolve to the first attachment; policies to addresses and single ports', (t) => {
  const s = state();
  s.portForwards = [
    { hostPort: 80, proto: 'tcp', target: 'web', targetPort: 8080, createdAt: '' },
    { hostPort: 81, proto: 'udp', hostIp: '198.18.0.1', target: 'nobody', targetPort: 81, createdAt: '' },
  ];
  s.policies = {
    p: { name: 'p', from: 'web', to: 'db', ports: ['5432', '7000-7002'], proto: 'tcp', action: 'allow', createdAt: '' },
    q: { name: 'q', from: 'any', to: 'web', ports: [], proto: 'any', action: 'deny', createdAt: '' },
  };
  const rs = compileRuleSet(s);
  t.deepEqual(rs.forwards, [
    { hostPort: 80, proto: 'tcp', targetIp: '10.30.0.10', targetPort: 8080 },
    { hostIp: '198.18.0.1', hostPort: 81, proto: 'udp', targetPort: 81 },
  ]);
  t.deepEqual(rs.policies, [
    { name: 'p', from: { kind: 'addresses', addresses: ['10.30.0.10', '10.20.0.10'] }, to: ['10.30.0.11'], proto: 'tcp', ports: [5432, 7000, 7001, 7002], action: 'allow' },
    { name: 'q', from: { kind: 'any' }, to: ['10.30.0.10', '10.20.0.10'], proto: 'any', ports: [], action: 'deny' },
  ]);
});
