import test from 'ava';
import type { FirewallNetwork, HostInputPolicy } from '@volt/sdk';
import {
  setupBaseScript,
  setupNetworkScript,
  tableModel,
  teardownBaseScript,
  teardownNetworkScript,
  validateNetwork,
  validatePolicy,
} from '@volt/plugin-nftables/dist/ruleset';

const POLICY: HostInputPolicy = { policy: 'drop', allow: ['tcp/22'] };
const BACKEND: FirewallNetwork = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', nat: true };
const INTERNAL: FirewallNetwork = { name: 'internal', bridge: 'volt-internal', subnet: '10.50.0.0/24', gateway: '10.50.0.1', nat: false };

const DECLARATIONS = [
  'add table inet volt',
  'add set inet volt bridges { type ifname; }',
  'add set inet volt nat_subnets { type ipv4_addr; flags interval; }',
  'add set inet volt bridges6 { type ifname; }',
  'add set inet volt nat_subnets6 { type ipv6_addr; flags interval; }',
  'add map inet volt forward_from { type ifname : verdict; }',
  'add map inet volt input_from { type ifname : verdict; }',
];

test('setupNetworkScript for a NAT network', (t) => {
  t.is(
    setupNetworkScript(BACKEND),
    [
      ...DECLARATIONS,
      'add chain inet volt net-backend-out',
      'add chain inet volt net-backend-in',
      'flush chain inet volt net-backend-out',
      'add rule inet volt net-backend-out oifname "volt-backend" accept',
      'add rule inet volt net-backend-out oifname @bridges drop',
      'add rule inet volt net-backend-out accept',
      'flush chain inet volt net-backend-in',
      'add rule inet volt net-backend-in ip daddr 10.30.0.1 udp dport 53 accept',
      'add rule inet volt net-backend-in ip daddr 10.30.0.1 tcp dport 53 accept',
      'add rule inet volt net-backend-in udp dport 67 accept',
      'add rule inet volt net-backend-in ip daddr 10.30.0.1 icmp type echo-request accept',
      'add rule inet volt net-backend-in drop',
      'add element inet volt bridges { "volt-backend" }',
      'delete element inet volt bridges { "volt-backend" }',
      'add element inet volt bridges { "volt-backend" }',
      'add element inet volt forward_from { "volt-backend" : jump net-backend-out }',
      'delete element inet volt forward_from { "volt-backend" }',
      'add element inet volt forward_from { "volt-backend" : jump net-backend-out }',
      'add element inet volt input_from { "volt-backend" : jump net-backend-in }',
      'delete element inet volt input_from { "volt-backend" }',
      'add element inet volt input_from { "volt-backend" : jump net-backend-in }',
      'add element inet volt nat_subnets { 10.30.0.0/24 }',
      'delete element inet volt nat_subnets { 10.30.0.0/24 }',
      'add element inet volt nat_subnets { 10.30.0.0/24 }',
      // IPv4-only: its bridge is taken out of bridges6 (IPv6 stays closed on it).
      'add element inet volt bridges6 { "volt-backend" }',
      'delete element inet volt bridges6 { "volt-backend" }',
      '',
    ].join('\n'),
  );
});

const DUAL: FirewallNetwork = { ...BACKEND, subnet6: 'fd00:30::/64', gateway6: 'fd00:30::1' };

test('setupNetworkScript for a dual-stack network: IPv6 host access, bridges6, NAT66 unless routed or --no-nat', (t) => {
  const script = setupNetworkScript(DUAL);
  for (const line of [
    'add rule inet volt net-backend-in ip6 daddr fd00:30::1 udp dport 53 accept',
    'add rule inet volt net-backend-in ip6 daddr fd00:30::1 tcp dport 53 accept',
    'add rule inet volt net-backend-in icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept',
    'add rule inet volt net-backend-in udp dport 547 accept',
    'add rule inet volt net-backend-in ip6 daddr fd00:30::1 icmpv6 type echo-request accept',
    'add element inet volt bridges6 { "volt-backend" }',
    'add element inet volt nat_subnets6 { fd00:30::/64 }',
  ]) {
    t.true(script.includes(`${line}\n`), line);
  }
  t.true(script.indexOf('icmpv6 type echo-request accept') < script.indexOf('net-backend-in drop'));
  const routed = setupNetworkScript({ ...DUAL, ipv6Mode: 'routed' });
  t.true(routed.includes('add element inet volt nat_subnets6 { fd00:30::/64 }\ndelete element inet volt nat_subnets6 { fd00:30::/64 }\n'), 'routed: not masqueraded');
  t.regex(routed, /add element inet volt bridges6 \{ "volt-backend" \}\ndelete element inet volt bridges6 \{ "volt-backend" \}\nadd element inet volt bridges6/);
  const internal = setupNetworkScript({ ...DUAL, nat: false });
  t.true(internal.includes('add element inet volt nat_subnets6 { fd00:30::/64 }\ndelete element inet volt nat_subnets6 { fd00:30::/64 }\n'), '--no-nat: no NAT66');
  t.true(internal.includes('add rule inet volt net-backend-out drop\n'), '--no-nat: no egress at all, IPv6 included');
  const m = tableModel(POLICY, [DUAL]);
  t.deepEqual(m.chains.find((c) => c.name === 'volt-nat-post')?.rules, [
    'ip saddr @nat_subnets oifname != @bridges oifname != "lo" masquerade',
    'ip6 saddr @nat_subnets6 oifname != @bridges oifname != "lo" masquerade',
  ]);
  for (const bad of [{ subnet6: 'fd00:30::/64', gateway6: 'x' }, { subnet6: 'fd00:30::' , gateway6: 'fd00:30::1' }, { subnet6: 'fd00:30::/64"', gateway6: 'fd00:30::1' }]) {
    t.throws(() => setupNetworkScript({ ...BACKEND, ...bad }), { name: 'UserInputError' });
  }
});

test('a --no-nat network drops outbound traffic and is taken out of nat_subnets', (t) => {
  const script = setupNetworkScript(INTERNAL);
  t.regex(script, /add rule inet volt net-internal-out oifname @bridges drop\nadd rule inet volt net-internal-out drop\n/);
  t.true(
    script.endsWith(
      'add element inet volt nat_subnets { 10.50.0.0/24 }\ndelete element inet volt nat_subnets { 10.50.0.0/24 }\nadd element inet volt bridges6 { "volt-internal" }\ndelete element inet volt bridges6 { "volt-internal" }\n',
    ),
    script,
  );
});

test('setupBaseScript: chains on their hooks, host policy last', (t) => {
  const script = setupBaseScript(POLICY);
  for (const line of [
    'add chain inet volt volt-input { type filter hook input priority filter; policy accept; }',
    'add chain inet volt volt-forward { type filter hook forward priority filter; policy accept; }',
    'add chain inet volt volt-nat-pre { type nat hook prerouting priority dstnat; policy accept; }',
    'add chain inet volt volt-nat-post { type nat hook postrouting priority srcnat; policy accept; }',
    'add rule inet volt volt-input iifname vmap @input_from',
    'add rule inet volt volt-forward iifname vmap @forward_from',
    'add rule inet volt volt-forward oifname @bridges ct status dnat accept',
    'add rule inet volt volt-nat-post ip saddr @nat_subnets oifname != @bridges oifname != "lo" masquerade',
  ]) {
    t.true(script.includes(`${line}\n`), line);
  }
  t.regex(script, /volt-input tcp dport 22 accept\nadd rule inet volt volt-input drop\n/);
  t.false(script.includes('delete chain'));
  t.false(/flush ruleset|delete table inet/.test(script));
  // IPv6 closed at layer 2: table bridge volt is re-created whole in the same transaction.
  t.true(script.includes('add table bridge volt\ndelete table bridge volt\nadd table bridge volt\n'), script);
  for (const line of [
    'add chain bridge volt volt-forward { type filter hook forward priority filter; policy accept; }',
    'add chain bridge volt volt-input { type filter hook input priority filter; policy accept; }',
    'add chain bridge volt volt-output { type filter hook output priority filter; policy accept; }',
    'add rule bridge volt volt-forward iifname "vh*" iifname != @ports6 jump ipv6-closed',
    'add rule bridge volt volt-forward oifname "tap-*" oifname != @ports6 jump ipv6-closed',
    'add rule bridge volt volt-input iifname "vh*" iifname != @ports6 jump ipv6-closed',
    'add rule bridge volt volt-output oifname "vh*" oifname != @ports6 jump ipv6-closed',
    'add rule bridge volt ipv6-closed ether type ip6 drop comment "IPv6 is closed on IPv4-only networks"',
    'add rule bridge volt ipv6-closed ether type 8021q vlan type ip6 drop comment "IPv6 is closed on IPv4-only networks"',
    'add rule bridge volt ipv6-closed ether type 8021ad vlan type 8021q vlan type ip6 drop comment "IPv6 is closed on IPv4-only networks"',
  ]) {
    t.true(script.includes(`${line}\n`), line);
  }
  // The chain jumped to exists before the rules that jump to it.
  t.true(script.indexOf('add chain bridge volt ipv6-closed') < script.indexOf('jump ipv6-closed'));

  const open = setupBaseScript({ policy: 'accept', allow: ['tcp/22'] });
  t.regex(open, /volt-input iifname @bridges drop\nadd rule inet volt volt-input accept\n/);
  t.false(open.includes('dport 22'));
});

test('setupBaseScript re-creates only the base chains it is told to rebuild', (t) => {
  const script = setupBaseScript(POLICY, ['volt-input']);
  t.true(
    script.includes(
      'add chain inet volt volt-input\nflush chain inet volt volt-input\ndelete chain inet volt volt-input\nadd chain inet volt volt-input { type filter',
    ),
  );
  t.is(script.match(/delete chain/g)?.length, 1);
});

test('host allow entries: ranges, duplicates and protocols', (t) => {
  const script = setupBaseScript({ policy: 'drop', allow: ['tcp/22', 'udp/53', 'tcp/8000-8080', 'tcp/22', 'udp/7-7'] });
  const rules = script
    .split('\n')
    .filter((l) => l.startsWith('add rule inet volt volt-input') && l.includes(' dport '))
    .map((l) => l.replace('add rule inet volt volt-input ', ''));
  t.deepEqual(rules, [
    'udp sport 67 udp dport 68 accept',
    'ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept',
    'tcp dport 22 accept',
    'udp dport 53 accept',
    'tcp dport 8000-8080 accept',
    'udp dport 7 accept',
  ]);
});

test('teardown scripts tolerate absence: every delete follows an add', (t) => {
  const script = teardownNetworkScript(BACKEND);
  const lines = script.trim().split('\n');
  for (const [i, line] of lines.entries()) {
    const m = /^delete (element|chain) inet volt (\S+)/.exec(line);
    if (!m) continue;
    const added = lines.slice(0, i).some((l) => l.startsWith(`add ${m[1]} inet volt ${m[2]}`));
    t.true(added, `${line} has an add before it`);
  }
  // Map entries go before the chains they jump to.
  t.true(lines.indexOf('delete element inet volt forward_from { "volt-backend" }') < lines.indexOf('delete chain inet volt net-backend-out'));
  // The subnet leaves nat_subnets whatever the NAT setting.
  t.true(teardownNetworkScript(INTERNAL).includes('delete element inet volt nat_subnets { 10.50.0.0/24 }'));
  t.is(teardownBaseScript(), 'add table inet volt\ndelete table inet volt\nadd table bridge volt\ndelete table bridge volt\n');
});

test('subnets are normalised to their network address', (t) => {
  const n = validateNetwork({ ...BACKEND, subnet: '10.30.0.77/24' });
  t.is(n.subnet, '10.30.0.0/24');
  t.true(setupNetworkScript({ ...BACKEND, subnet: '10.30.0.77/24' }).includes('nat_subnets { 10.30.0.0/24 }'));
});

const BAD_NETWORKS: Array<[string, Partial<FirewallNetwork>, RegExp]> = [
  ['upper-case name', { name: 'Backend' }, /network name "Backend"/],
  ['name too long', { name: 'a'.repeat(33) }, /must be 1-32 characters/],
  ['name starting with a dash', { name: '-x' }, /network name "-x"/],
  ['bridge name too long', { bridge: 'volt-0123456789ab' }, /bridge name "volt-0123456789ab"/],
  ['quote in bridge name', { bridge: 'x" accept' }, /bridge name/],
  ['subnet without prefix', { subnet: '10.30.0.0' }, /subnet "10.30.0.0" is not an IPv4 network/],
  ['IPv6 subnet', { subnet: 'fd00::/64' }, /subnet "fd00::\/64"/],
  ['/31 subnet', { subnet: '10.30.0.0/31' }, /prefix of \/1 to \/30/],
  ['octet over 255', { subnet: '10.300.0.0/24' }, /is not an IPv4 network/],
  ['gateway outside the subnet', { gateway: '10.31.0.1' }, /gateway 10.31.0.1 is outside subnet 10.30.0.0\/24/],
  ['gateway not an address', { gateway: 'gw' }, /gateway "gw" is not an IPv4 address/],
];

for (const [title, change, message] of BAD_NETWORKS) {
  test(`rejects a network: ${title}`, (t) => {
    const e = t.throws(() => setupNetworkScript({ ...BACKEND, ...change }));
    t.is(e?.name, 'UserInputError');
    t.regex(e?.message ?? '', /^set up firewall for network ".*": /);
    t.regex(e?.message ?? '', message);
  });
}

const BAD_POLICIES: Array<[string, HostInputPolicy, RegExp]> = [
  ['unknown verdict', { policy: 'reject' as 'drop', allow: [] }, /host input policy "reject"/],
  ['entry without protocol', { policy: 'drop', allow: ['22'] }, /host allow entry "22"/],
  ['port 0', { policy: 'drop', allow: ['tcp/0'] }, /host allow entry "tcp\/0"/],
  ['port over 65535', { policy: 'drop', allow: ['udp/70000'] }, /host allow entry/],
  ['reversed range', { policy: 'drop', allow: ['tcp/90-80'] }, /host allow entry "tcp\/90-80"/],
  ['sctp', { policy: 'drop', allow: ['sctp/9'] }, /host allow entry/],
];

for (const [title, policy, message] of BAD_POLICIES) {
  test(`rejects a host policy: ${title}`, (t) => {
    const e = t.throws(() => validatePolicy(policy));
    t.is(e?.name, 'UserInputError');
    t.regex(e?.message ?? '', message);
  });
}

test('tableModel: base chains, then two chains per network, elements per network', (t) => {
  const model = tableModel(POLICY, [BACKEND, INTERNAL]);
  t.deepEqual(
    model.chains.map((c) => c.name),
    ['volt-input', 'volt-forward', 'volt-nat-pre', 'volt-nat-post', 'net-backend-out', 'net-backend-in', 'net-internal-out', 'net-internal-in'],
  );
  t.deepEqual(
    model.elements.filter((e) => e.set === 'nat_subnets').map((e) => e.key),
    ['10.30.0.0/24'],
  );
  t.deepEqual(model.absent, [
    { set: 'bridges6', key: '"volt-backend"', network: 'backend' },
    { set: 'nat_subnets', key: '10.50.0.0/24', network: 'internal' },
    { set: 'bridges6', key: '"volt-internal"', network: 'internal' },
  ]);
});
