import test from 'ava';
import type { FirewallRuleSet, FirewallUserRule, HostInputPolicy } from '@volt/sdk';
import {
  BUCKET_SPAN,
  bucketChain,
  changedForwards,
  diffRuleSets,
  emptyRuleSet,
  groupSetName,
  overlayModel,
  replaceOverlay,
  userRuleTexts,
  validateRuleSet,
} from '@volt/plugin-nftables/dist/overlay';
import { elementText, setupBaseScript, tableModel } from '@volt/plugin-nftables/dist/ruleset';
import { describeDrift, describeOrphans, withoutOrphans } from '@volt/plugin-nftables/dist/drift';
import type { ListedTable } from '@volt/plugin-nftables/dist/nft-json';

const POLICY: HostInputPolicy = { policy: 'drop', allow: ['tcp/22'] };
const NET = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', nat: true };

function rule(name: string, order: number, over: Partial<FirewallUserRule> = {}): FirewallUserRule {
  return { name, order, chain: 'forward', source: { kind: 'any' }, dest: { kind: 'cidr', cidr: '10.30.0.10' }, proto: 'tcp', ports: [{ from: 80, to: 80 }], action: 'accept', ...over };
}

function set(over: Partial<FirewallRuleSet> = {}): FirewallRuleSet {
  return { ...emptyRuleSet(), ...over };
}

test('user rules: one kernel rule per port and protocol, no anonymous sets, named by comment', (t) => {
  t.deepEqual(userRuleTexts(rule('allow-http', 1024, { ports: [{ from: 80, to: 80 }, { from: 443, to: 443 }] })), [
    'ip daddr 10.30.0.10 tcp dport 80 accept comment "volt:allow-http"',
    'ip daddr 10.30.0.10 tcp dport 443 accept comment "volt:allow-http"',
  ]);
  t.deepEqual(userRuleTexts(rule('r', 1, { proto: 'any', ports: [{ from: 8000, to: 8080 }], action: 'reject', source: { kind: 'group', group: 'web' } })), [
    'ip saddr @wl-web ip daddr 10.30.0.10 tcp dport 8000-8080 reject with tcp reset comment "volt:r"',
    'ip saddr @wl-web ip daddr 10.30.0.10 udp dport 8000-8080 reject with icmpx port-unreachable comment "volt:r"',
  ]);
  t.deepEqual(userRuleTexts(rule('i', 2, { chain: 'input', proto: 'icmp', ports: [], inBridge: 'volt-x', source: { kind: 'cidr', cidr: '10.0.0.0/8' }, dest: { kind: 'any' }, action: 'drop' })), [
    'iifname "volt-x" ip saddr 10.0.0.0/8 meta l4proto icmp drop comment "volt:i"',
  ]);
  t.deepEqual(userRuleTexts(rule('a', 3, { proto: 'any', ports: [], dest: { kind: 'any' } })), ['accept comment "volt:a"']);
});

test('group set names are safe nft identifiers', (t) => {
  t.is(groupSetName('web'), 'wl-web');
  t.is(groupSetName('db_1-x'), 'wl-db_1-x');
  t.regex(groupSetName('web@backend'), /^wl-h[0-9a-f]{16}$/);
  t.regex(groupSetName('vt-1.2'), /^wl-h[0-9a-f]{16}$/);
  t.not(groupSetName('a@b'), groupSetName('a@c'));
});

test('rules go into buckets of BUCKET_SPAN orders; dispatch chains jump to them in order', (t) => {
  const rs = set({ rules: [rule('a', 1024), rule('b', BUCKET_SPAN + 5), rule('c', 2048, { chain: 'input' }), rule('d', 10)] });
  const m = overlayModel(rs);
  const chain = (n: string) => m.chains.find((c) => c.name === n)?.rules;
  t.deepEqual(chain('volt-fw-forward'), ['jump fwf-0', 'jump fwf-1']);
  t.deepEqual(chain('volt-fw-input'), ['jump fwi-0']);
  t.deepEqual(chain(bucketChain('forward', 0))?.map((r) => r.replace(/.* comment /, '')), ['"volt:d"', '"volt:a"'], 'ordered by order within a bucket');
  t.is(chain('volt-policy')?.length, 28, 'the policy chain is constant: dnat + 2 families + 12 deny + 12 allow + drop');
});

test('policies become set elements keyed by address, protocol and port', (t) => {
  const m = overlayModel(
    set({
      policies: [
        { name: 'app-to-db', from: { kind: 'addresses', addresses: ['10.30.0.2'] }, to: ['10.30.0.3'], proto: 'tcp', ports: [5432], action: 'allow' },
        { name: 'any-dns', from: { kind: 'any' }, to: ['10.30.0.3'], proto: 'any', ports: [53], action: 'allow' },
        { name: 'no-web', from: { kind: 'addresses', addresses: ['10.30.0.4'] }, to: ['10.30.0.3'], proto: 'any', ports: [], action: 'deny' },
        { name: 'ping', from: { kind: 'any' }, to: ['10.30.0.3'], proto: 'icmp', ports: [], action: 'allow' },
      ],
    }),
  );
  const keys = (s: string) => m.elements.filter((e) => e.set === s).map((e) => e.key);
  t.deepEqual(keys('pol_isolated'), ['10.30.0.3']);
  t.deepEqual(keys('pol_allow_sdpp'), ['10.30.0.2 . 10.30.0.3 . tcp . 5432']);
  t.deepEqual(keys('pol_allow_dpp'), ['10.30.0.3 . tcp . 53', '10.30.0.3 . udp . 53']);
  t.deepEqual(keys('pol_deny_sd'), ['10.30.0.4 . 10.30.0.3']);
  t.deepEqual(keys('pol_allow_dp'), ['10.30.0.3 . icmp']);
  t.is(m.elements.find((e) => e.set === 'pol_isolated')?.label, 'isolation by policies "app-to-db", "any-dns", "no-web" and 1 more');
});

test('forwards: maps with and without a host address; hairpin for networks with workloads; none without a target', (t) => {
  const m = overlayModel(
    set({
      forwards: [
        { hostPort: 8080, proto: 'tcp', targetIp: '10.30.0.10', targetPort: 80 },
        { hostIp: '198.18.0.1', hostPort: 53, proto: 'udp', targetIp: '10.30.0.11', targetPort: 53 },
        { hostPort: 9000, proto: 'tcp', targetPort: 80 },
      ],
      networks: [NET],
    }),
  );
  const of = (s: string) => m.elements.filter((e) => e.set === s).map((e) => `${e.key}${e.value ? ` : ${e.value}` : ''}`);
  t.deepEqual(of('pf_port'), ['tcp . 8080 : 10.30.0.10 . 80']);
  t.deepEqual(of('pf_addr'), ['198.18.0.1 . udp . 53 : 10.30.0.11 . 53']);
  t.deepEqual(of('hairpin'), ['10.30.0.0/24 . "volt-backend"']);
});

test('diff: appending a rule adds only that rule, whatever the number of rules', (t) => {
  for (const n of [10, 10_000]) {
    const rules = Array.from({ length: n }, (_, i) => rule(`r${i}`, (i + 1) * 1024, { dest: { kind: 'cidr', cidr: `10.${(i >> 8) & 255}.${i & 255}.5` } }));
    const prev = set({ rules });
    const next = set({ rules: [...rules, rule('new', (n + 1) * 1024 + 1)] });
    const lines = diffRuleSets(prev, next);
    const bucket = Math.floor(((n + 1) * 1024 + 1) / BUCKET_SPAN);
    const fresh = Math.floor((n * 1024) / BUCKET_SPAN) !== bucket;
    t.deepEqual(
      lines,
      fresh
        ? [`add chain inet volt fwf-${bucket}`, `add rule inet volt fwf-${bucket} ip daddr 10.30.0.10 tcp dport 80 accept comment "volt:new"`, `add rule inet volt volt-fw-forward jump fwf-${bucket}`]
        : [`add rule inet volt fwf-${bucket} ip daddr 10.30.0.10 tcp dport 80 accept comment "volt:new"`],
      `${n} rules`,
    );
  }
});

test('diff: deleting refills only its bucket; an emptied bucket leaves the dispatch first', (t) => {
  const rules = [rule('a', 1024), rule('b', 2048), rule('c', BUCKET_SPAN + 1024)];
  t.deepEqual(diffRuleSets(set({ rules }), set({ rules: [rules[0]!, rules[2]!] })), ['flush chain inet volt fwf-0', 'add rule inet volt fwf-0 ip daddr 10.30.0.10 tcp dport 80 accept comment "volt:a"']);
  const lines = diffRuleSets(set({ rules }), set({ rules: rules.slice(0, 2) }));
  t.deepEqual(lines, ['flush chain inet volt volt-fw-forward', 'add rule inet volt volt-fw-forward jump fwf-0', 'flush chain inet volt fwf-1', 'delete chain inet volt fwf-1']);
  t.deepEqual(diffRuleSets(set({ rules }), set({ rules })), [], 'no change, no script');
});

test('diff: new sets and elements before the rules that use them; old ones after', (t) => {
  const prev = set({ rules: [rule('a', 1024, { source: { kind: 'group', group: 'old' } })], groups: { old: ['10.30.0.5'] } });
  const next = set({ rules: [rule('a', 1024, { source: { kind: 'group', group: 'web' } })], groups: { web: ['10.30.0.6', '10.30.0.7'] } });
  t.deepEqual(diffRuleSets(prev, next), [
    'add set inet volt wl-web { type ipv4_addr; }',
    'add element inet volt wl-web { 10.30.0.6, 10.30.0.7 }',
    'flush chain inet volt fwf-0',
    'add rule inet volt fwf-0 ip saddr @wl-web ip daddr 10.30.0.10 tcp dport 80 accept comment "volt:a"',
    'delete set inet volt wl-old',
  ]);
});

test('diff: a workload that moves changes elements only; a retargeted forward is replaced', (t) => {
  const r = rule('a', 1024, { source: { kind: 'group', group: 'web' } });
  const f = { hostPort: 8080, proto: 'tcp' as const, targetIp: '10.30.0.6', targetPort: 80 };
  const prev = set({ rules: [r], groups: { web: ['10.30.0.6'] }, forwards: [f] });
  const next = set({ rules: [r], groups: { web: ['10.30.0.9'] }, forwards: [{ ...f, targetIp: '10.30.0.9' }] });
  t.deepEqual(diffRuleSets(prev, next), [
    'delete element inet volt pf_port { tcp . 8080 }',
    'add element inet volt wl-web { 10.30.0.9 }',
    'add element inet volt pf_port { tcp . 8080 : 10.30.0.9 . 80 }',
    'delete element inet volt wl-web { 10.30.0.6 }',
  ]);
  t.deepEqual(changedForwards(prev.forwards, next.forwards), [{ ...f, targetIp: '10.30.0.9' }]);
  t.deepEqual(changedForwards(prev.forwards, prev.forwards), []);
  t.deepEqual(changedForwards(prev.forwards, []), [f], 'a removed forward is a change');
});

test('replace: stale buckets and group sets go after everything is rebuilt', (t) => {
  const { build, cleanup } = replaceOverlay(overlayModel(set({ rules: [rule('a', 1024)] })), { chains: ['fwf-0', 'fwf-7', 'volt-policy', 'net-x-out'], sets: ['wl-gone', 'pol_isolated'] });
  t.true(build.includes('flush set inet volt pol_isolated'));
  t.true(build.indexOf('add chain inet volt fwf-0') < build.indexOf('flush chain inet volt volt-fw-forward'));
  t.deepEqual(cleanup, ['flush chain inet volt fwf-7', 'delete chain inet volt fwf-7', 'delete set inet volt wl-gone']);
});

test('setupBase with rules: hooks in the base chains, the overlay built before the base chains refer to it', (t) => {
  const script = setupBaseScript(POLICY, [], set({ rules: [rule('a', 1024)] }));
  const lines = script.split('\n');
  const jump = lines.indexOf('add rule inet volt volt-forward jump volt-fw-forward');
  t.true(jump > 0);
  t.true(lines.indexOf('add chain inet volt volt-fw-forward') < jump);
  t.true(lines.includes('add chain inet volt volt-nat-out { type nat hook output priority -100; policy accept; }'));
  t.true(lines.includes('add rule inet volt volt-nat-pre fib daddr type local dnat ip to meta l4proto . th dport map @pf_port'));
  t.true(lines.includes('add rule inet volt volt-nat-post ct status dnat ip saddr . oifname @hairpin masquerade'));
  // Without rules the base is exactly the default policy (what older tables and tests expect).
  t.false(setupBaseScript(POLICY).includes('volt-fw'));
  const plain = tableModel(POLICY, [NET]);
  const hooked = tableModel(POLICY, [NET], emptyRuleSet());
  t.deepEqual(plain.chains.find((c) => c.name === 'volt-forward')?.rules, [
    'ct state established,related accept',
    'iifname @bridges iifname != @bridges6 meta nfproto ipv6 drop comment "IPv6 is closed on IPv4-only networks"',
    'oifname @bridges oifname != @bridges6 meta nfproto ipv6 drop comment "IPv6 is closed on IPv4-only networks"',
    'iifname @bridges6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept comment "neighbour discovery on dual-stack networks"',
    'iifname vmap @forward_from',
    'iifname @bridges drop',
    'oifname @bridges ct status dnat accept',
    'oifname @bridges drop',
  ]);
  t.deepEqual(hooked.chains.find((c) => c.name === 'volt-forward')?.rules, [
    'ct state established,related accept',
    'iifname @bridges iifname != @bridges6 meta nfproto ipv6 drop comment "IPv6 is closed on IPv4-only networks"',
    'oifname @bridges oifname != @bridges6 meta nfproto ipv6 drop comment "IPv6 is closed on IPv4-only networks"',
    'iifname @bridges6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept comment "neighbour discovery on dual-stack networks"',
    'iifname @bridges ip saddr 127.0.0.0/8 drop',
    'jump volt-fw-forward',
    'iifname @bridges jump volt-policy',
    'iifname vmap @forward_from',
    'iifname @bridges drop',
    'oifname @bridges ct status dnat accept',
    'oifname @bridges drop',
  ]);
});

const BAD: [string, FirewallRuleSet, RegExp][] = [
  ['a quote in a name', set({ rules: [rule('a" accept', 1)] }), /rule "a" accept": the name/],
  ['a bad address in a group', set({ groups: { x: ['10.0.0.300'] } }), /"10\.0\.0\.300" is not an IPv4 or IPv6 address/],
  ['a port range backwards', set({ rules: [rule('a', 1, { ports: [{ from: 9, to: 8 }] })] }), /port range 9-8/],
  ['two rules in one place', set({ rules: [rule('a', 1), rule('b', 1)] }), /rules "a" and "b": both are at position 1 of forward/],
  ['icmp with ports', set({ rules: [rule('a', 1, { proto: 'icmp' })] }), /icmp has no ports/],
  ['a bad target', set({ forwards: [{ hostPort: 1, proto: 'tcp', targetIp: 'x', targetPort: 1 }] }), /target address "x"/],
  ['a bad bridge', set({ rules: [rule('a', 1, { inBridge: 'x" accept' })] }), /bridge "x" accept"/],
  ['a bad policy address', set({ policies: [{ name: 'p', from: { kind: 'any' }, to: ['1.2.3'], proto: 'tcp', ports: [], action: 'allow' }] }), /"1\.2\.3" is not an IPv4 or IPv6 address/],
];
for (const [title, rs, re] of BAD) {
  test(`nothing reaches nft unchecked: ${title}`, (t) => {
    // Rules are checked when rendered; the rest when the set arrives.
    const e = t.throws(() => overlayModel(validateRuleSet(rs, 'apply firewall rules')));
    t.is(e?.name, 'UserInputError');
    t.regex(e?.message ?? '', re);
  });
}

test('a rule naming a group the set does not define matches nothing (an empty set)', (t) => {
  const m = overlayModel(set({ rules: [rule('a', 1, { source: { kind: 'group', group: 'gone' } })] }));
  t.true(m.sets.some((s) => s.name === 'wl-gone'));
  t.false(m.elements.some((e) => e.set === 'wl-gone'));
});

/** What `nft -j list table inet volt` would give for a model (the kernel exactly as volt made it). */
function listed(m: ReturnType<typeof tableModel>): ListedTable {
  return {
    family: 'inet',
    name: 'volt',
    chains: m.chains.map((c) => ({ name: c.name, rules: [...c.rules] })),
    sets: m.sets.map((s) => ({ kind: s.kind, name: s.name, type: s.type, ...(s.map ? { map: s.map } : {}), flags: s.flags, elements: m.elements.filter((e) => e.set === s.name).map(elementText) })),
  };
}

test('orphans: what the kernel holds that state no longer produces, one finding per object', (t) => {
  const OLD = { name: 'old', bridge: 'volt-old', subnet: '10.31.0.0/24', gateway: '10.31.0.1', nat: true };
  const full = set({
    rules: [rule('keep', 1024), rule('gone', 2048, { ports: [{ from: 22, to: 22 }, { from: 2222, to: 2222 }] })],
    forwards: [
      { hostPort: 8080, proto: 'tcp', targetIp: '10.30.0.10', targetPort: 80 },
      { hostPort: 53, proto: 'udp', hostIp: '198.18.0.1', targetIp: '10.30.0.10', targetPort: 53 },
    ],
    networks: [NET],
  });
  const have = listed(tableModel(POLICY, [NET, OLD], full));
  t.deepEqual(describeOrphans(tableModel(POLICY, [NET, OLD], full), have), [], 'nothing left over when state produces everything');
  const left = describeOrphans(tableModel(POLICY, [NET], set({ rules: [rule('keep', 1024)], networks: [NET] })), have);
  t.deepEqual(
    left.map((o) => o.object),
    [
      'network chains net-old-in/out',
      'firewall rule "gone"',
      'bridges element "volt-old"',
      'nat_subnets element 10.31.0.0/24',
      'forward_from element "volt-old"',
      'input_from element "volt-old"',
      'port forward 198.18.0.1:53/udp',
      'port forward 8080/tcp',
      'hairpin element 10.30.0.0/24 . "volt-backend"',
    ],
  );
  // The network's objects come with the statements that remove them; the overlay's are replaced by setupBase.
  const chains = left.find((o) => o.object.startsWith('network chains'))!;
  t.true(chains.remove!.includes('delete chain inet volt net-old-out'));
  t.deepEqual(left.find((o) => o.object === 'bridges element "volt-old"')!.remove, ['delete element inet volt bridges { "volt-old" }']);
  t.is(left.find((o) => o.object === 'port forward 8080/tcp')!.remove, undefined);
});

test('withoutOrphans: the drift of a table without its orphans is empty, so net check reports them once (as findings)', (t) => {
  const OLD = { name: 'old', bridge: 'volt-old', subnet: '10.31.0.0/24', gateway: '10.31.0.1', nat: true };
  const full = set({
    rules: [rule('keep', 1024), rule('gone', 2048)],
    forwards: [{ hostPort: 8080, proto: 'tcp', targetIp: '10.30.0.10', targetPort: 80 }],
    networks: [NET],
  });
  const have = listed(tableModel(POLICY, [NET, OLD], full));
  const want = tableModel(POLICY, [NET], set({ rules: [rule('keep', 1024)], networks: [NET] }));
  t.true(describeDrift(want, have).length > 0, 'the orphans are drift of the full listing');
  t.true(describeOrphans(want, have).length > 0);
  // Whatever drift remains is not about an orphan: the dispatch rules that jumped to the gone rule's bucket, if any.
  const rest = describeDrift(want, withoutOrphans(want, have));
  t.false(rest.some((d) => /volt:gone|8080|net-old|volt-old|10\.31\.0\.0/.test(d)), rest.join('\n'));
  // A real difference (a rule state has, missing in the kernel) is still drift.
  const missing = { ...have, chains: have.chains.map((c) => ({ ...c, rules: c.rules.filter((r) => !r.includes('volt:keep')) })) };
  t.true(describeDrift(want, withoutOrphans(want, missing)).some((d) => d.includes('volt:keep')));
});
