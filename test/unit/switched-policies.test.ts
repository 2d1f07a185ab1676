import test from 'ava';
import * as path from 'node:path';
import type { BridgeDriver, FirewallDriver, FirewallRuleSet, SwitchedPolicySet } from '@volt/sdk';
import { capabilitiesOf } from '@volt/sdk';
import { compileSwitchedPolicies, firewallWithSwitchedPolicies, switchedPoliciesOf } from '@volt/core/dist/services/firewall/switched-policies';
import { evaluate, type Flow } from '@volt/core/dist/services/firewall/policy-eval';

// The switched-policies seam (docs/decisions/0010-switched-policies.md) against fakes, and the ovs example's flow table.

const RS: FirewallRuleSet = {
  rules: [{ name: 'r1', order: 1024, chain: 'forward', source: { kind: 'any' }, dest: { kind: 'any' }, proto: 'tcp', ports: [{ from: 8081, to: 8081 }], action: 'accept' }],
  groups: {},
  forwards: [],
  policies: [
    { name: 'web-http', from: { kind: 'addresses', addresses: ['10.30.0.100'] }, to: ['10.30.0.101'], proto: 'tcp', ports: [8080], action: 'allow' },
    { name: 'other-net', from: { kind: 'any' }, to: ['10.40.0.5'], proto: 'any', ports: [], action: 'deny' },
  ],
  networks: [
    { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', nat: true },
    { name: 'front', bridge: 'volt-front', subnet: '10.40.0.0/24', gateway: '10.40.0.1', nat: true },
  ],
};

test('compileSwitchedPolicies: per network, only its destinations, the default allow', (t) => {
  const sets = compileSwitchedPolicies(RS);
  t.deepEqual(sets, [
    {
      network: 'backend',
      bridge: 'volt-backend',
      subnet: '10.30.0.0/24',
      gateway: '10.30.0.1',
      default: 'allow',
      isolated: ['10.30.0.101'],
      policies: [{ name: 'web-http', action: 'allow', from: ['10.30.0.100'], to: ['10.30.0.101'], proto: 'tcp', ports: [8080] }],
    },
    {
      network: 'front',
      bridge: 'volt-front',
      subnet: '10.40.0.0/24',
      gateway: '10.40.0.1',
      default: 'allow',
      isolated: ['10.40.0.5'],
      policies: [{ name: 'other-net', action: 'deny', to: ['10.40.0.5'], proto: 'any', ports: [] }],
    },
  ]);
  t.deepEqual(compileSwitchedPolicies({ ...RS, policies: [] }).map((s) => s.isolated), [[], []]);
});

function fakeFirewall(log: string[], fail = false): FirewallDriver {
  return {
    name: 'nftables',
    preference: 0,
    fallback: false,
    description: 'fake',
    available: async () => ({ ok: true, reason: 'fake' }),
    setupBase: async () => void log.push('setupBase'),
    teardownBase: async () => undefined,
    setupNetwork: async () => undefined,
    teardownNetwork: async () => undefined,
    check: async () => ['nft drift'],
    applyRules: async (next) => {
      log.push(`nft ${next.policies.map((p) => p.name).join(',') || '-'}`);
      if (fail) throw new Error('nft failed');
    },
    removeRules: async () => undefined,
  };
}

function fakeBridge(log: string[], fail = false): BridgeDriver & { applySwitchedPolicies(s: readonly SwitchedPolicySet[]): Promise<void>; checkSwitchedPolicies(s: readonly SwitchedPolicySet[]): Promise<string[]> } {
  let calls = 0;
  return {
    name: 'ovs',
    preference: 5,
    fallback: false,
    description: 'fake',
    filtersSwitchedTraffic: false,
    available: async () => ({ ok: true, reason: 'fake' }),
    setupBridge: async () => undefined,
    teardownBridge: async () => undefined,
    inspectBridge: async (ifname) => ({ ifname, exists: true, up: true, addresses: [], ports: [] }),
    inspectBridges: async () => [],
    applySwitchedPolicies: async (sets) => {
      calls++;
      log.push(`ovs ${sets.map((s) => `${s.bridge}:${s.policies.map((p) => p.name).join(',') || '-'}`).join(' ')}`);
      // Fails the first time only (the change), not the put-back.
      if (fail && calls === 1) throw new Error('ovs-ofctl failed');
    },
    checkSwitchedPolicies: async (sets) => sets.filter((s) => s.policies.length > 0).map((s) => `flows of ${s.bridge}`),
  };
}

test('switchedPoliciesOf: only a driver with both methods', (t) => {
  const b = fakeBridge([]);
  t.true(capabilitiesOf('bridge', b).includes('switched-policies'));
  t.is(switchedPoliciesOf(b), b);
  const { checkSwitchedPolicies: _c, ...half } = b;
  t.is(switchedPoliciesOf(half as BridgeDriver), undefined);
  t.is(switchedPoliciesOf(undefined), undefined);
});

test('the wrapped firewall hands the policies to the bridge driver after nftables, and check adds its drift', async (t) => {
  const log: string[] = [];
  const fw = firewallWithSwitchedPolicies(fakeFirewall(log), fakeBridge(log), (m) => log.push(`warn ${m}`));
  await fw.applyRules!(RS, { ...RS, policies: [] });
  t.deepEqual(log, ['nft web-http,other-net', 'ovs volt-backend:web-http volt-front:other-net']);
  t.deepEqual(await fw.check({ policy: 'accept', allow: [] }, [], RS), ['nft drift', 'flows of volt-backend', 'flows of volt-front']);
  // Without the desired rule set there is nothing to compare the switch with.
  t.deepEqual(await fw.check({ policy: 'accept', allow: [] }, []), ['nft drift']);
  // Everything else is the firewall driver's own.
  await fw.setupBase({ policy: 'accept', allow: [] });
  t.is(log[log.length - 1], 'setupBase');
  t.is(fw.name, 'nftables');
});

test('a bridge driver that fails: nftables and the switch are put back, the error goes up', async (t) => {
  const log: string[] = [];
  const fw = firewallWithSwitchedPolicies(fakeFirewall(log), fakeBridge(log, true), (m) => log.push(`warn ${m}`));
  await t.throwsAsync(fw.applyRules!(RS, { ...RS, policies: [] }), { message: 'ovs-ofctl failed' });
  t.deepEqual(log, ['nft web-http,other-net', 'ovs volt-backend:web-http volt-front:other-net', 'nft -', 'ovs volt-backend:- volt-front:-']);
});

test('a firewall driver without rules stays without them', (t) => {
  const { applyRules: _a, removeRules: _r, ...bare } = fakeFirewall([]);
  const fw = firewallWithSwitchedPolicies(bare as FirewallDriver, fakeBridge([]), () => undefined);
  t.is(fw.applyRules, undefined);
});

test('policy test on a switch that enforces policies: same-network flows skip firewall rules, policies and default apply', (t) => {
  const flow = (port: number, extra: Partial<Flow> = {}): Flow => ({ src: '10.30.0.100', dst: '10.30.0.101', proto: 'tcp', port, inBridge: 'volt-backend', sameNetwork: true, bridgeFiltered: true, ...extra });
  // Through netfilter the accept rule for 8081 decides; in the switch it does not exist.
  t.deepEqual(evaluate(RS, flow(8081)).decidedBy, { kind: 'rule', name: 'r1', action: 'accept' });
  t.deepEqual(evaluate(RS, flow(8081, { switchedBy: 'ovs' })), { allowed: false, decidedBy: { kind: 'isolation', policies: ['web-http'] } });
  t.deepEqual(evaluate(RS, flow(8080, { switchedBy: 'ovs' })), { allowed: true, decidedBy: { kind: 'policy', name: 'web-http', action: 'allow' } });
  t.deepEqual(evaluate(RS, flow(22, { switchedBy: 'ovs', dst: '10.30.0.102' })), { allowed: true, decidedBy: { kind: 'default', reason: 'same network' } });
});

// The example's compiled flow table (examples/ovs/src/policy-flows.ts, built by `npm run build`).
interface PolicyFlows {
  flowTable(set: SwitchedPolicySet | undefined): string[];
  describeFlowDiff(bridge: string, set: SwitchedPolicySet | undefined, diff: string): string[];
  policyIndexOf(cookie: string): number | undefined;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const flows = require(path.join(__dirname, '../../../examples/ovs/dist/policy-flows')) as PolicyFlows;

test('ovs flow table: the plain table without isolation; with it, conntrack and the policy order of nftables', (t) => {
  const [backend] = compileSwitchedPolicies(RS);
  t.deepEqual(flows.flowTable(undefined), ['priority=0,actions=NORMAL', 'cookie=0x766f6c74,priority=100,ipv6,actions=drop']);
  t.deepEqual(flows.flowTable({ ...backend!, isolated: [], policies: [] }), flows.flowTable(undefined));
  t.deepEqual(flows.flowTable(backend), [
    'priority=0,actions=NORMAL',
    'cookie=0x766f6c74,priority=100,ipv6,actions=drop',
    'cookie=0x766f6c74,table=0,priority=60,ip,in_port=LOCAL,actions=NORMAL',
    'cookie=0x766f6c74,table=0,priority=60,ip,nw_dst=10.30.0.1,actions=NORMAL',
    'cookie=0x766f6c74,table=0,priority=50,ip,nw_dst=10.30.0.0/24,actions=ct(table=1,zone=1)',
    'cookie=0x766f6c74,table=1,priority=200,ct_state=+trk+est,ip,actions=NORMAL',
    'cookie=0x766f6c74,table=1,priority=200,ct_state=+trk+rel,ip,actions=NORMAL',
    'cookie=0x1766f6c74,table=1,priority=120,tcp,tp_dst=8080,nw_src=10.30.0.100,nw_dst=10.30.0.101,actions=ct(commit,zone=1),NORMAL',
    'cookie=0x766f6c74,table=1,priority=110,ip,nw_dst=10.30.0.101,actions=drop',
    'cookie=0x766f6c74,table=1,priority=100,ip,actions=ct(commit,zone=1),NORMAL',
  ]);
  // Ports with proto any: tcp and udp; deny above allow; IPv6 addresses never (the gate drops IPv6).
  const more: SwitchedPolicySet = {
    ...backend!,
    isolated: ['10.30.0.101', 'fd00::1'],
    policies: [{ name: 'd', action: 'deny', to: ['10.30.0.101', 'fd00::1'], proto: 'any', ports: [53] }],
  };
  t.deepEqual(flows.flowTable(more).filter((l) => l.includes('priority=150')), [
    'cookie=0x1766f6c74,table=1,priority=150,tcp,tp_dst=53,nw_dst=10.30.0.101,actions=drop',
    'cookie=0x1766f6c74,table=1,priority=150,udp,tp_dst=53,nw_dst=10.30.0.101,actions=drop',
  ]);
  t.false(flows.flowTable(more).some((l) => l.includes('fd00')));
});

test('ovs drift: diff-flows lines name the policy by cookie', (t) => {
  const [backend] = compileSwitchedPolicies(RS);
  t.is(flows.policyIndexOf('0x1766f6c74'), 0);
  t.is(flows.policyIndexOf('0x766f6c74'), undefined);
  t.is(flows.policyIndexOf('0x1234'), undefined);
  const diff = [
    '+cookie=0x1766f6c74 table=1 priority=120,tcp,nw_src=10.30.0.100,nw_dst=10.30.0.101,tp_dst=8080 actions=ct(commit,zone=1),NORMAL',
    '-cookie=0x5 table=1 priority=1 actions=drop',
    '+cookie=0x766f6c74 priority=100,ipv6 actions=drop',
  ].join('\n');
  t.deepEqual(flows.describeFlowDiff('volt-backend', backend, diff), [
    'Open vSwitch bridge volt-backend lacks a flow of policy "web-http" that volt installs: cookie=0x1766f6c74 table=1 priority=120,tcp,nw_src=10.30.0.100,nw_dst=10.30.0.101,tp_dst=8080 actions=ct(commit,zone=1),NORMAL',
    'Open vSwitch bridge volt-backend has a flow that volt did not install or no longer wants: cookie=0x5 table=1 priority=1 actions=drop',
  ]);
});
