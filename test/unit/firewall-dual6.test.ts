import test from 'ava';
import type { FirewallNetwork, FirewallRuleSet, FirewallUserRule, HostInputPolicy } from '@volt/sdk';
import { changedForwards, diffRuleSets, emptyRuleSet, overlayModel, userRuleTexts, validateRuleSet } from '@volt/plugin-nftables/dist/overlay';
import { bridgeTableLines, ports6DiffLines, setupBaseScript, tableModel } from '@volt/plugin-nftables/dist/ruleset';
import { compileRuleSet, ports6Of } from '@volt/core/dist/services/firewall/firewall-compile';
import { endpointsFamily, parseEndpoint, parseIpFlag } from '@volt/core/dist/services/firewall/firewall-input';
import { evaluate, type Flow } from '@volt/core/dist/services/firewall/policy-eval';
import { pathBetween } from '@volt/core/dist/services/firewall/policy-service';
import { emptyState, type AttachmentRecord, type NetworkRecord, type VoltState } from '@volt/core/dist/state/types';

/** Dual-stack firewall: one rule or policy naming a workload covers both of its addresses; v6 CIDRs; forwards; ports6. */

const POLICY: HostInputPolicy = { policy: 'drop', allow: ['tcp/22'] };
const DUAL: FirewallNetwork = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', nat: true, subnet6: 'fd00:30::/64', gateway6: 'fd00:30::1', ipv6Mode: 'nat' };

function rule(name: string, order: number, over: Partial<FirewallUserRule> = {}): FirewallUserRule {
  return { name, order, chain: 'forward', source: { kind: 'any' }, dest: { kind: 'group', group: 'web' }, proto: 'tcp', ports: [{ from: 80, to: 80 }], action: 'accept', ...over };
}

function set(over: Partial<FirewallRuleSet> = {}): FirewallRuleSet {
  return { ...emptyRuleSet(), ...over };
}

test('a rule naming a workload becomes one kernel rule per family; an address names its family only', (t) => {
  t.deepEqual(userRuleTexts(rule('w', 1024)), ['ip daddr @wl-web tcp dport 80 accept comment "volt:w"', 'ip6 daddr @wl6-web tcp dport 80 accept comment "volt:w"']);
  t.deepEqual(userRuleTexts(rule('v6', 2048, { source: { kind: 'cidr', cidr: 'fd00:99::/64' } })), ['ip6 saddr fd00:99::/64 ip6 daddr @wl6-web tcp dport 80 accept comment "volt:v6"']);
  t.deepEqual(userRuleTexts(rule('one', 3072, { dest: { kind: 'cidr', cidr: 'fd00:30::5/128' } })), ['ip6 daddr fd00:30::5 tcp dport 80 accept comment "volt:one"']);
  // No address: one rule covers both families, except ICMP, which is two protocols.
  t.deepEqual(userRuleTexts(rule('any', 4096, { dest: { kind: 'any' } })), ['tcp dport 80 accept comment "volt:any"']);
  t.deepEqual(userRuleTexts(rule('ping', 5120, { dest: { kind: 'any' }, proto: 'icmp', ports: [], action: 'drop' })), [
    'meta l4proto icmp drop comment "volt:ping"',
    'meta l4proto ipv6-icmp drop comment "volt:ping"',
  ]);
  t.deepEqual(userRuleTexts(rule('ping6', 6144, { proto: 'icmp', ports: [], action: 'reject' })), [
    'ip daddr @wl-web meta l4proto icmp reject with icmpx port-unreachable comment "volt:ping6"',
    'ip6 daddr @wl6-web meta l4proto ipv6-icmp reject with icmpx port-unreachable comment "volt:ping6"',
  ]);
  const e = t.throws(() => userRuleTexts(rule('mixed', 7168, { source: { kind: 'cidr', cidr: '10.0.0.0/8' }, dest: { kind: 'cidr', cidr: 'fd00::/8' } })));
  t.regex(e?.message ?? '', /different families/);
  t.throws(() => userRuleTexts(rule('bad', 8192, { dest: { kind: 'cidr', cidr: 'fd00::1"; flush ruleset' } })), { message: /is not an IPv4 or IPv6 address or subnet/ });
});

test('group sets per family, filled with the addresses of that family', (t) => {
  const m = overlayModel(set({ rules: [rule('w', 1024)], groups: { web: ['10.30.0.10', 'fd00:30::a'] } }));
  t.deepEqual(m.sets.filter((s) => s.name.startsWith('wl')).map((s) => `${s.name}:${s.type}`), ['wl-web:ipv4_addr', 'wl6-web:ipv6_addr']);
  t.deepEqual(m.elements.filter((e) => e.set.startsWith('wl')).map((e) => `${e.set}=${e.key}`), ['wl-web=10.30.0.10', 'wl6-web=fd00:30::a']);
  // A rule that names an IPv4 subnet needs no IPv6 set.
  const v4 = overlayModel(set({ rules: [rule('w', 1024, { source: { kind: 'cidr', cidr: '10.0.0.0/8' } })], groups: { web: ['10.30.0.10', 'fd00:30::a'] } }));
  t.deepEqual(v4.sets.filter((s) => s.name.startsWith('wl')).map((s) => s.name), ['wl-web']);
});

test('policies: elements go to the sets of their family; pairs never mix families; icmp is ipv6-icmp over IPv6', (t) => {
  const m = overlayModel(
    set({
      policies: [
        { name: 'p', from: { kind: 'addresses', addresses: ['10.30.0.5', 'fd00:30::5'] }, to: ['10.30.0.6', 'fd00:30::6'], proto: 'tcp', ports: [5432], action: 'allow' },
        { name: 'q', from: { kind: 'any' }, to: ['fd00:30::6'], proto: 'icmp', ports: [], action: 'deny' },
      ],
    }),
  );
  const el = (s: string): string[] => m.elements.filter((e) => e.set === s).map((e) => e.key);
  t.deepEqual(el('pol_isolated'), ['10.30.0.6']);
  t.deepEqual(el('pol_isolated6'), ['fd00:30::6']);
  t.deepEqual(el('pol_allow_sdpp'), ['10.30.0.5 . 10.30.0.6 . tcp . 5432']);
  t.deepEqual(el('pol6_allow_sdpp'), ['fd00:30::5 . fd00:30::6 . tcp . 5432']);
  t.deepEqual(el('pol6_deny_dp'), ['fd00:30::6 . ipv6-icmp']);
  const chain = m.chains.find((c) => c.name === 'volt-policy')!.rules;
  t.deepEqual(chain.slice(0, 3), ['ct status dnat return', 'ip daddr != @pol_isolated return', 'ip6 daddr != @pol_isolated6 return']);
  t.true(chain.includes('ip6 saddr . ip6 daddr . meta l4proto . th dport @pol6_allow_sdpp accept'));
  t.is(chain[chain.length - 1], 'drop');
  t.throws(() => validateRuleSet(set({ policies: [{ name: 'p', from: { kind: 'any' }, to: ['fd00::g'], proto: 'tcp', ports: [], action: 'allow' }] }), 'x'), { message: /is not an IPv4 or IPv6 address/ });
});

test('forwards: both families without a host address, one family with one; hairpin6 for dual-stack networks', (t) => {
  const f = { hostPort: 8080, proto: 'tcp' as const, targetIp: '10.30.0.10', targetIp6: 'fd00:30::a', targetPort: 80 };
  const m = overlayModel(set({ forwards: [f, { ...f, hostPort: 8081, hostIp: 'fd00:1::1' }, { ...f, hostPort: 8082, hostIp: '198.18.0.1' }], networks: [DUAL] }));
  const el = (s: string): string[] => m.elements.filter((e) => e.set === s).map((e) => `${e.key} : ${e.value ?? ''}`);
  t.deepEqual(el('pf_port'), ['tcp . 8080 : 10.30.0.10 . 80']);
  t.deepEqual(el('pf_port6'), ['tcp . 8080 : fd00:30::a . 80']);
  t.deepEqual(el('pf_addr6'), ['fd00:1::1 . tcp . 8081 : fd00:30::a . 80']);
  t.deepEqual(el('pf_addr'), ['198.18.0.1 . tcp . 8082 : 10.30.0.10 . 80']);
  t.deepEqual(m.elements.filter((e) => e.set === 'hairpin6').map((e) => e.key), ['fd00:30::/64 . "volt-backend"']);
  t.deepEqual(changedForwards([f], [{ ...f, targetIp6: 'fd00:30::b' }]).length, 1, 'a new IPv6 target is a change (UDP conntrack flush)');
  t.deepEqual(changedForwards([f], [f]), []);
  const script = setupBaseScript(POLICY, [], set({ forwards: [f], networks: [DUAL] }));
  t.true(script.includes('add rule inet volt volt-nat-pre fib daddr type local dnat ip6 to meta l4proto . th dport map @pf_port6\n'));
  t.true(script.includes('add rule inet volt volt-nat-out fib daddr type local dnat ip6 to meta l4proto . th dport map @pf_port6\n'));
  t.true(script.includes('add rule inet volt volt-nat-post ct status dnat ip6 saddr . oifname @hairpin6 masquerade\n'));
});

test('ports6: the bridge table opens IPv6 for dual-stack ports only; a change is element adds and deletes', (t) => {
  const lines = bridgeTableLines(['vh00000000aa', 'tap-00000000bb']);
  t.true(lines.includes('add set bridge volt ports6 { type ifname; }'));
  t.true(lines.includes('add element bridge volt ports6 { "tap-00000000bb", "vh00000000aa" }'));
  // Each side on its own: a workload port outside ports6 jumps to ipv6-closed, whatever the other side is
  // (so neighbour discovery and link-local pass between two ports of ports6, and one port taken out is closed both ways).
  const rules = (chain: string): string[] => lines.filter((l) => l.startsWith(`add rule bridge volt ${chain} `)).map((l) => l.slice(`add rule bridge volt ${chain} `.length));
  t.deepEqual(rules('volt-forward'), [
    'iifname "vh*" iifname != @ports6 jump ipv6-closed',
    'iifname "tap-*" iifname != @ports6 jump ipv6-closed',
    'oifname "vh*" oifname != @ports6 jump ipv6-closed',
    'oifname "tap-*" oifname != @ports6 jump ipv6-closed',
  ]);
  t.deepEqual(rules('volt-input'), ['iifname "vh*" iifname != @ports6 jump ipv6-closed', 'iifname "tap-*" iifname != @ports6 jump ipv6-closed']);
  t.deepEqual(rules('volt-output'), ['oifname "vh*" oifname != @ports6 jump ipv6-closed', 'oifname "tap-*" oifname != @ports6 jump ipv6-closed']);
  t.false(lines.some((l) => / accept$/.test(l) && l.includes('bridge volt')), 'no rule of table bridge volt accepts early: every frame is checked on both sides');
  t.deepEqual(ports6DiffLines(['vh00000000aa'], ['vh00000000cc']), ['add element bridge volt ports6 { "vh00000000cc" }', 'delete element bridge volt ports6 { "vh00000000aa" }']);
  t.deepEqual(ports6DiffLines(['a'], ['a']), []);
  t.throws(() => validateRuleSet(set({ ports6: ['vh" accept'] }), 'x'), { message: /is not an interface name/ });
  // The inet side: the dual-stack bridge is in bridges6, NAT66 for its prefix.
  const m = tableModel(POLICY, [DUAL]);
  t.true(m.elements.some((e) => e.set === 'bridges6' && e.key === '"volt-backend"'));
  t.true(m.elements.some((e) => e.set === 'nat_subnets6' && e.key === 'fd00:30::/64'));
  t.deepEqual(diffRuleSets(set(), set()), []);
});

function net(name: string, subnet6?: string): NetworkRecord {
  const n = Number(name.length);
  return {
    name,
    bridge: `volt-${name}`,
    subnet: `10.${30 + n}.0.0/24`,
    gateway: `10.${30 + n}.0.1`,
    mtu: 1500,
    nat: true,
    mac: '02:00:00:00:00:01',
    isDefault: false,
    createdAt: '',
    ...(subnet6 ? { subnet6, gateway6: subnet6.replace('::/64', '::1') } : {}),
  };
}

function att(workload: string, network: string, ip: string, ip6?: string): AttachmentRecord {
  return { workload, network, ip, ...(ip6 ? { ip6 } : {}), mac: '02:00:00:00:00:02', kind: 'veth', ifname: 'eth0', hostIfname: `vh${workload.padEnd(10, '0').slice(0, 10)}`, createdAt: '' };
}

function state(): VoltState {
  const s = emptyState();
  s.networks = { dual: net('dual', 'fd00:30::/64'), v4: net('v4') };
  s.attachments = [att('web', 'dual', '10.34.0.10', 'fd00:30::a'), att('app', 'dual', '10.34.0.11', 'fd00:30::b'), att('old', 'v4', '10.32.0.10')];
  s.firewall.rules = [{ name: 'to-web', source: 'fd00:99::/64', dest: 'web', ports: ['80'], proto: 'tcp', action: 'accept', chains: ['forward'], order: 1024, createdAt: '' }];
  s.policies = { iso: { name: 'iso', from: 'app', to: 'web', ports: ['5432'], proto: 'tcp', action: 'allow', createdAt: '' } };
  s.portForwards = [{ hostPort: 8080, proto: 'tcp', target: 'web', targetPort: 80, createdAt: '' }];
  return s;
}

test('compile: workloads stand for both addresses; forwards get the IPv6 target; ports6 lists dual-stack ports only', (t) => {
  const s = state();
  const rs = compileRuleSet(s);
  t.deepEqual(rs.groups.web, ['10.34.0.10', 'fd00:30::a']);
  t.deepEqual(rs.policies[0]?.to, ['10.34.0.10', 'fd00:30::a']);
  t.deepEqual(rs.forwards[0], { hostPort: 8080, proto: 'tcp', targetIp: '10.34.0.10', targetIp6: 'fd00:30::a', targetPort: 80 });
  t.deepEqual(ports6Of(s), ['vhapp0000000', 'vhweb0000000']);
  const dual = rs.networks.find((n) => n.name === 'dual');
  t.like(dual, { subnet6: 'fd00:30::/64', gateway6: 'fd00:30::1', ipv6Mode: 'nat' });
  t.is(rs.networks.find((n) => n.name === 'v4')?.subnet6, undefined);
  // The driver accepts what core compiles.
  t.notThrows(() => validateRuleSet(rs, 'compile'));
  t.notThrows(() => overlayModel(rs));
});

test('policy test over IPv6: same verdicts as the kernel rules would give, addresses of the IPv6 family', (t) => {
  const s = state();
  const rs = compileRuleSet(s);
  const by = new Map<string, AttachmentRecord[]>();
  for (const a of s.attachments) by.set(a.workload, [...(by.get(a.workload) ?? []), a]);
  const p6 = pathBetween(s, 'app', by.get('app')!, 'web', by.get('web')!, 6);
  t.like(p6, { ok: true, src: 'fd00:30::b', dst: 'fd00:30::a', sameNetwork: true });
  t.like(pathBetween(s, 'old', by.get('old')!, 'web', by.get('web')!, 6), { ok: false, missing: 'old' });
  const flow = (src: string, dst: string, port: number, same = true): Flow => ({ src, dst, proto: 'tcp', port, inBridge: 'volt-dual', sameNetwork: same, bridgeFiltered: true });
  t.like(evaluate(rs, flow('fd00:30::b', 'fd00:30::a', 5432)), { allowed: true, decidedBy: { kind: 'policy', name: 'iso' } });
  t.like(evaluate(rs, flow('fd00:30::b', 'fd00:30::a', 5433)), { allowed: false, decidedBy: { kind: 'isolation' } });
  // The rule names an IPv6 source prefix: it matches IPv6 only.
  t.like(evaluate(rs, flow('fd00:99::7', 'fd00:30::a', 80, false)), { allowed: true, decidedBy: { kind: 'rule', name: 'to-web' } });
  t.like(evaluate(rs, flow('10.99.0.7', '10.34.0.10', 80, false)), { allowed: false, decidedBy: { kind: 'isolation' } });
});

test('input: IPv6 endpoints canonical, typos explained, mixed families refused; --host-ip takes both', (t) => {
  t.like(parseEndpoint('FD00:30:0::5', '--dest', 'x'), { kind: 'cidr', family: 6, cidr: 'fd00:30::5', prefix: 128 });
  t.like(parseEndpoint('fd00:30::/64', '--dest', 'x'), { kind: 'cidr', family: 6, cidr: 'fd00:30::/64' });
  t.throws(() => parseEndpoint('fd00:30::5/64', '--dest', 'x'), { message: /has host bits set.*|did you mean fd00:30::\/64/s });
  t.throws(() => parseEndpoint('fd00:::5', '--dest', 'x'), { message: /not a valid IPv6 address/ });
  t.throws(() => parseEndpoint('fd00::/129', '--dest', 'x'), { message: /not a valid IPv6 prefix/ });
  t.throws(() => parseEndpoint('::ffff:10.0.0.1', '--dest', 'x'), { message: /IPv4-mapped/ });
  const e = t.throws(() => endpointsFamily(parseEndpoint('10.0.0.0/8', '--source', 'x'), parseEndpoint('fd00::/8', '--dest', 'x'), 'x'));
  t.regex(e?.message ?? '', /different address families \(10\.0\.0\.0\/8 is IPv4, fd00::\/8 is IPv6\)/);
  t.is(endpointsFamily(parseEndpoint('web', '--source', 'x'), parseEndpoint('fd00::/8', '--dest', 'x'), 'x'), 6);
  t.is(parseIpFlag('[FD00::1]', '--host-ip', 'x'), 'fd00::1');
  t.is(parseIpFlag('10.0.0.1', '--host-ip', 'x'), '10.0.0.1');
  t.throws(() => parseIpFlag('fd00::g', '--host-ip', 'x'), { message: /not a valid IPv6 address/ });
});

test('neighbour discovery of dual-stack networks is accepted before user rules and policies, after the IPv4-only gate', (t) => {
  for (const hooks of [false, true]) {
    const m = tableModel(POLICY, [DUAL], hooks ? set() : undefined);
    for (const name of ['volt-input', 'volt-forward']) {
      const rules = m.chains.find((c) => c.name === name)!.rules;
      const nd = rules.findIndex((r) => r.includes('icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert }'));
      t.true(nd > 0, `${name}: ${rules.join(' | ')}`);
      t.is(rules[nd], 'iifname @bridges6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept comment "neighbour discovery on dual-stack networks"');
      // The gate first: IPv6 from a bridge outside bridges6 (an IPv4-only network) is dropped before this accept.
      t.true(rules.findIndex((r) => r.startsWith('iifname @bridges iifname != @bridges6 meta nfproto ipv6 drop')) < nd, name);
      // Then the overlay (user rules, policies): a policy isolating a workload never sees its NS/NA.
      if (hooks) {
        const overlay = rules.findIndex((r) => r.startsWith('jump volt-fw-'));
        t.true(overlay > nd, `${name}: the overlay after neighbour discovery`);
        if (name === 'volt-forward') t.true(rules.indexOf('iifname @bridges jump volt-policy') > nd);
      }
    }
  }
});
