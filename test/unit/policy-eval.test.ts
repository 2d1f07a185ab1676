import test from 'ava';
import type { FirewallRuleSet, FirewallUserRule } from '@volt/sdk';
import { evaluate, flowLabel, verdictLine, type Flow } from '@volt/core/dist/services/firewall/policy-eval';

const A = '10.30.0.2';
const B = '10.30.0.3';
const C = '10.20.0.2';
const same: Flow = { src: A, dst: B, proto: 'tcp', port: 5432, inBridge: 'volt-backend', sameNetwork: true, bridgeFiltered: true };
const cross: Flow = { src: C, dst: B, proto: 'tcp', port: 5432, inBridge: 'volt-frontend', sameNetwork: false, bridgeFiltered: true };

function rs(over: Partial<FirewallRuleSet>): FirewallRuleSet {
  return { rules: [], groups: {}, forwards: [], policies: [], networks: [], ...over };
}

function rule(name: string, order: number, over: Partial<FirewallUserRule>): FirewallUserRule {
  return { name, order, chain: 'forward', source: { kind: 'any' }, dest: { kind: 'any' }, proto: 'any', ports: [], action: 'accept', ...over };
}

test('defaults: same network allowed, different networks denied', (t) => {
  t.like(evaluate(rs({}), same), { allowed: true, decidedBy: { kind: 'default', reason: 'same network' } });
  t.like(evaluate(rs({}), cross), { allowed: false, decidedBy: { kind: 'default', reason: 'different networks' } });
});

test('a policy isolates its target: only what policies allow; deny beats allow', (t) => {
  const allow = { name: 'app-to-db', from: { kind: 'addresses' as const, addresses: [A] }, to: [B], proto: 'tcp' as const, ports: [5432], action: 'allow' as const };
  const set = rs({ policies: [allow] });
  t.like(evaluate(set, same), { allowed: true, decidedBy: { kind: 'policy', name: 'app-to-db' } });
  t.like(evaluate(set, { ...same, port: 6379 }), { allowed: false, decidedBy: { kind: 'isolation', policies: ['app-to-db'] } });
  t.like(evaluate(set, { ...same, src: '10.30.0.9' }), { allowed: false, decidedBy: { kind: 'isolation' } });
  t.like(evaluate(set, { ...same, proto: 'udp' }), { allowed: false });
  // Not the target: the default still applies to everyone else.
  t.like(evaluate(set, { ...same, src: B, dst: A }), { allowed: true, decidedBy: { kind: 'default' } });
  // Across networks an allow opens the way.
  t.like(evaluate(rs({ policies: [{ ...allow, from: { kind: 'any' } }] }), cross), { allowed: true, decidedBy: { kind: 'policy' } });
  const deny = { name: 'no-a', from: { kind: 'addresses' as const, addresses: [A] }, to: [B], proto: 'any' as const, ports: [], action: 'deny' as const };
  t.like(evaluate(rs({ policies: [allow, deny] }), same), { allowed: false, decidedBy: { kind: 'policy', name: 'no-a', action: 'deny' } });
  // icmp and 'any' without ports.
  const ping = { name: 'ping', from: { kind: 'any' as const }, to: [B], proto: 'icmp' as const, ports: [], action: 'allow' as const };
  t.like(evaluate(rs({ policies: [ping] }), { ...same, proto: 'icmp', port: undefined }), { allowed: true });
  t.like(evaluate(rs({ policies: [ping] }), same), { allowed: false });
});

test('firewall rules come first, in order, first match wins; input rules do not judge forwarded traffic', (t) => {
  const set = rs({
    rules: [
      rule('in', 1, { chain: 'input', action: 'drop' }),
      rule('allow-db', 2, { dest: { kind: 'group', group: 'db' }, proto: 'tcp', ports: [{ from: 5000, to: 6000 }] }),
      rule('drop-all', 3, { action: 'reject' }),
    ],
    groups: { db: [B] },
    policies: [{ name: 'p', from: { kind: 'any' }, to: [B], proto: 'tcp', ports: [1], action: 'allow' }],
  });
  t.like(evaluate(set, same), { allowed: true, decidedBy: { kind: 'rule', name: 'allow-db' } });
  t.like(evaluate(set, cross), { allowed: true, decidedBy: { kind: 'rule', name: 'allow-db' } }, 'a rule accepts across networks');
  t.like(evaluate(set, { ...same, port: 80 }), { allowed: false, decidedBy: { kind: 'rule', name: 'drop-all', action: 'reject' } });
  const scoped = rs({ rules: [rule('only-front', 1, { inBridge: 'volt-frontend', action: 'drop' })] });
  t.like(evaluate(scoped, same), { allowed: true, decidedBy: { kind: 'default' } });
  t.like(evaluate(scoped, cross), { allowed: false, decidedBy: { kind: 'rule' } });
  const cidr = rs({ rules: [rule('sub', 1, { source: { kind: 'cidr', cidr: '10.20.0.0/24' }, action: 'drop' }), rule('one', 2, { dest: { kind: 'cidr', cidr: B }, action: 'drop' })] });
  t.like(evaluate(cidr, cross), { decidedBy: { kind: 'rule', name: 'sub' } });
  t.like(evaluate(cidr, same), { decidedBy: { kind: 'rule', name: 'one' } });
  t.like(evaluate(rs({ rules: [rule('u', 1, { proto: 'udp', ports: [{ from: 5432, to: 5432 }], action: 'drop' })] }), same), { allowed: true }, 'udp rule, tcp flow');
});

test('same-network traffic the bridge does not hand to the hooks is not filtered at all', (t) => {
  const set = rs({ rules: [rule('drop-all', 1, { action: 'drop' })] });
  t.like(evaluate(set, { ...same, bridgeFiltered: false, bridgeFilterReason: 'br_netfilter is off' }), { allowed: true, decidedBy: { kind: 'unfiltered', reason: 'br_netfilter is off' } });
  t.like(evaluate(set, { ...cross, bridgeFiltered: false }), { allowed: false }, 'routed traffic is filtered regardless');
});

test("lines in the spec's form", (t) => {
  t.is(verdictLine(flowLabel('app-server', 'db-primary', 'tcp', 5432), { allowed: true, decidedBy: { kind: 'policy', name: 'app-to-db', action: 'allow' } }), '✓ app-server → db-primary:5432 — ALLOWED (policy: app-to-db)');
  t.is(verdictLine(flowLabel('web-frontend', 'db-primary', 'tcp', 5432), { allowed: false, decidedBy: { kind: 'isolation', policies: ['app-to-db'] } }), '✗ web-frontend → db-primary:5432 — DENIED');
  t.is(verdictLine(flowLabel('a', 'b', 'udp', 53), { allowed: false, decidedBy: { kind: 'default', reason: 'different networks' } }), '✗ a → b:53/udp — DENIED (default: different networks)');
  t.is(verdictLine(flowLabel('a', 'b', 'icmp'), { allowed: false, decidedBy: { kind: 'rule', name: 'x', action: 'drop' } }), '✗ a → b (icmp) — DENIED (rule: x)');
});
