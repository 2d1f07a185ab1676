import test from 'ava';
import type { FirewallNetwork, HostInputPolicy } from '@volt/sdk';
import { describeDrift, ruleDiff } from '@volt/plugin-nftables/dist/drift';
import { parseTableListing, renderRule, type ListedTable } from '@volt/plugin-nftables/dist/nft-json';
import { nftError } from '@volt/plugin-nftables/dist/nftables-firewall';
import { bridgeTableModel, tableModel } from '@volt/plugin-nftables/dist/ruleset';

const POLICY: HostInputPolicy = { policy: 'drop', allow: ['tcp/22', 'udp/60000-61000'] };
const BACKEND: FirewallNetwork = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', nat: true };
const INTERNAL: FirewallNetwork = { name: 'internal', bridge: 'volt-internal', subnet: '10.50.0.0/24', gateway: '10.50.0.1', nat: false };
const NETS = [BACKEND, INTERNAL];

// `nft -j list table inet volt` (nftables 1.0.6) after setupBase(POLICY),
// setupNetwork(BACKEND) and setupNetwork(INTERNAL).
const LISTING = `{"nftables":[
  {"metainfo":{"version":"1.0.6","release_name":"Lester Gooch #5","json_schema_version":1}},
  {"table":{"family":"inet","name":"volt","handle":3}},
  {"set":{"family":"inet","name":"bridges","table":"volt","type":"ifname","handle":1,"elem":["volt-backend","volt-internal"]}},
  {"set":{"family":"inet","name":"nat_subnets","table":"volt","type":"ipv4_addr","handle":2,"flags":["interval"],"elem":[{"prefix":{"addr":"10.30.0.0","len":24}}]}},
  {"set":{"family":"inet","name":"bridges6","table":"volt","type":"ifname","handle":3}},
  {"set":{"family":"inet","name":"nat_subnets6","table":"volt","type":"ipv6_addr","handle":4,"flags":["interval"]}},
  {"map":{"family":"inet","name":"forward_from","table":"volt","type":"ifname","handle":5,"map":"verdict","elem":[["volt-backend",{"jump":{"target":"net-backend-out"}}],["volt-internal",{"jump":{"target":"net-internal-out"}}]]}},
  {"map":{"family":"inet","name":"input_from","table":"volt","type":"ifname","handle":6,"map":"verdict","elem":[["volt-backend",{"jump":{"target":"net-backend-in"}}],["volt-internal",{"jump":{"target":"net-internal-in"}}]]}},
  {"chain":{"family":"inet","table":"volt","name":"volt-input","handle":7,"type":"filter","hook":"input","prio":0,"policy":"accept"}},
  {"chain":{"family":"inet","table":"volt","name":"volt-forward","handle":8,"type":"filter","hook":"forward","prio":0,"policy":"accept"}},
  {"chain":{"family":"inet","table":"volt","name":"volt-nat-pre","handle":9,"type":"nat","hook":"prerouting","prio":-100,"policy":"accept"}},
  {"chain":{"family":"inet","table":"volt","name":"volt-nat-post","handle":10,"type":"nat","hook":"postrouting","prio":100,"policy":"accept"}},
  {"chain":{"family":"inet","table":"volt","name":"net-backend-out","handle":32}},
  {"chain":{"family":"inet","table":"volt","name":"net-backend-in","handle":33}},
  {"chain":{"family":"inet","table":"volt","name":"net-internal-out","handle":42}},
  {"chain":{"family":"inet","table":"volt","name":"net-internal-in","handle":43}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-input","handle":11,"expr":[{"match":{"op":"in","left":{"ct":{"key":"state"}},"right":["established","related"]}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-input","handle":12,"expr":[{"match":{"op":"==","left":{"meta":{"key":"iif"}},"right":"lo"}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-input","handle":13,"comment":"IPv6 is closed on IPv4-only networks","expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"@bridges"}},{"match":{"op":"!=","left":{"meta":{"key":"iifname"}},"right":"@bridges6"}},{"match":{"op":"==","left":{"meta":{"key":"nfproto"}},"right":"ipv6"}},{"drop":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-input","handle":113,"comment":"neighbour discovery on dual-stack networks","expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"@bridges6"}},{"match":{"op":"==","left":{"payload":{"protocol":"icmpv6","field":"type"}},"right":{"set":["nd-neighbor-solicit","nd-neighbor-advert"]}}},{"match":{"op":"==","left":{"payload":{"protocol":"ip6","field":"hoplimit"}},"right":255}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-input","handle":14,"expr":[{"vmap":{"key":{"meta":{"key":"iifname"}},"data":"@input_from"}}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-input","handle":15,"expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"@bridges"}},{"drop":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-input","handle":17,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"icmpv6","field":"type"}},"right":{"set":["nd-router-solicit","nd-router-advert","nd-neighbor-solicit","nd-neighbor-advert"]}}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-input","handle":18,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"sport"}},"right":67}},{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":68}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-input","handle":19,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip6","field":"saddr"}},"right":{"prefix":{"addr":"fe80::","len":10}}}},{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"sport"}},"right":547}},{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":546}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-input","handle":20,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":22}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-input","handle":21,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":{"range":[60000,61000]}}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-input","handle":22,"expr":[{"drop":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-forward","handle":23,"expr":[{"match":{"op":"in","left":{"ct":{"key":"state"}},"right":["established","related"]}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-forward","handle":24,"comment":"IPv6 is closed on IPv4-only networks","expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"@bridges"}},{"match":{"op":"!=","left":{"meta":{"key":"iifname"}},"right":"@bridges6"}},{"match":{"op":"==","left":{"meta":{"key":"nfproto"}},"right":"ipv6"}},{"drop":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-forward","handle":25,"comment":"IPv6 is closed on IPv4-only networks","expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"@bridges"}},{"match":{"op":"!=","left":{"meta":{"key":"oifname"}},"right":"@bridges6"}},{"match":{"op":"==","left":{"meta":{"key":"nfproto"}},"right":"ipv6"}},{"drop":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-forward","handle":125,"comment":"neighbour discovery on dual-stack networks","expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"@bridges6"}},{"match":{"op":"==","left":{"payload":{"protocol":"icmpv6","field":"type"}},"right":{"set":["nd-neighbor-solicit","nd-neighbor-advert"]}}},{"match":{"op":"==","left":{"payload":{"protocol":"ip6","field":"hoplimit"}},"right":255}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-forward","handle":26,"expr":[{"vmap":{"key":{"meta":{"key":"iifname"}},"data":"@forward_from"}}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-forward","handle":27,"expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"@bridges"}},{"drop":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-forward","handle":28,"expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"@bridges"}},{"match":{"op":"in","left":{"ct":{"key":"status"}},"right":"dnat"}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-forward","handle":29,"expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"@bridges"}},{"drop":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-nat-post","handle":30,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"@nat_subnets"}},{"match":{"op":"!=","left":{"meta":{"key":"oifname"}},"right":"@bridges"}},{"match":{"op":"!=","left":{"meta":{"key":"oifname"}},"right":"lo"}},{"masquerade":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"volt-nat-post","handle":31,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip6","field":"saddr"}},"right":"@nat_subnets6"}},{"match":{"op":"!=","left":{"meta":{"key":"oifname"}},"right":"@bridges"}},{"match":{"op":"!=","left":{"meta":{"key":"oifname"}},"right":"lo"}},{"masquerade":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-backend-out","handle":34,"expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"volt-backend"}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-backend-out","handle":35,"expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"@bridges"}},{"drop":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-backend-out","handle":36,"expr":[{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-backend-in","handle":37,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"10.30.0.1"}},{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":53}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-backend-in","handle":38,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"10.30.0.1"}},{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":53}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-backend-in","handle":39,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":67}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-backend-in","handle":40,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"10.30.0.1"}},{"match":{"op":"==","left":{"payload":{"protocol":"icmp","field":"type"}},"right":"echo-request"}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-backend-in","handle":41,"expr":[{"drop":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-internal-out","handle":44,"expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"volt-internal"}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-internal-out","handle":45,"expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"@bridges"}},{"drop":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-internal-out","handle":46,"expr":[{"drop":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-internal-in","handle":47,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"10.50.0.1"}},{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":53}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-internal-in","handle":48,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"10.50.0.1"}},{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":53}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-internal-in","handle":49,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"udp","field":"dport"}},"right":67}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-internal-in","handle":50,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"daddr"}},"right":"10.50.0.1"}},{"match":{"op":"==","left":{"payload":{"protocol":"icmp","field":"type"}},"right":"echo-request"}},{"accept":null}]}},
  {"rule":{"family":"inet","table":"volt","chain":"net-internal-in","handle":51,"expr":[{"drop":null}]}}
]}`;

function listed(edit?: (items: Array<Record<string, Record<string, unknown>>>) => void): ListedTable {
  const raw = JSON.parse(LISTING) as { nftables: Array<Record<string, Record<string, unknown>>> };
  edit?.(raw.nftables);
  const table = parseTableListing(JSON.stringify(raw), 'inet', 'volt');
  if (!table) throw new Error('fixture has no table');
  return table;
}

const model = tableModel(POLICY, NETS);

test('the listing of what volt generated renders back to the generated rules', (t) => {
  const table = listed();
  for (const want of model.chains) {
    t.deepEqual(table.chains.find((c) => c.name === want.name)?.rules, want.rules, want.name);
  }
  t.deepEqual(table.sets.find((s) => s.name === 'forward_from')?.elements, [
    '"volt-backend" : jump net-backend-out',
    '"volt-internal" : jump net-internal-out',
  ]);
  t.deepEqual(table.sets.find((s) => s.name === 'nat_subnets')?.elements, ['10.30.0.0/24']);
  t.deepEqual(describeDrift(model, table), []);
});

test('a missing table is one sentence', (t) => {
  t.deepEqual(describeDrift(model, undefined), ['nftables table inet volt is missing: the firewall is not set up']);
  t.is(parseTableListing('{"nftables":[{"metainfo":{}}]}', 'inet', 'volt'), undefined);
});

const isRule = (chain: string, pred: (expr: unknown[]) => boolean) => (i: Record<string, Record<string, unknown>>): boolean =>
  i.rule !== undefined && i.rule.chain === chain && pred(i.rule.expr as unknown[]);

test('drift: a rule removed from a network chain', (t) => {
  const table = listed((items) => {
    const at = items.findIndex(isRule('net-internal-in', (e) => JSON.stringify(e).includes('"right":67')));
    items.splice(at, 1);
  });
  t.deepEqual(describeDrift(model, table), [
    `network "internal": chain "net-internal-in" differs from what volt generates: missing rule 'udp dport 67 accept'`,
  ]);
});

test('drift: a foreign rule, rules reordered', (t) => {
  const foreign = listed((items) => {
    items.push({ rule: { family: 'inet', table: 'volt', chain: 'volt-forward', expr: [{ counter: { packets: 3, bytes: 9 } }, { accept: null }], comment: 'mine' } });
  });
  t.deepEqual(describeDrift(model, foreign), [
    `base chain "volt-forward" differs from what volt generates: unexpected rule 'counter accept comment "mine"'`,
  ]);
  const reordered = listed((items) => {
    const i = items.findIndex(isRule('net-backend-in', () => true));
    const [first] = items.splice(i, 1);
    if (first) items.push(first);
  });
  t.deepEqual(describeDrift(model, reordered), [`network "backend": chain "net-backend-in" differs from what volt generates: rules are out of order`]);
});

test('drift: base chain missing or re-hooked, foreign chains and sets', (t) => {
  const table = listed((items) => {
    const pre = items.findIndex((i) => i.chain?.name === 'volt-nat-pre');
    items.splice(pre, 1);
    const input = items.find((i) => i.chain?.name === 'volt-input');
    if (input?.chain) input.chain.prio = 5;
    items.push({ chain: { family: 'inet', table: 'volt', name: 'net-gone-out' } });
    items.push({ chain: { family: 'inet', table: 'volt', name: 'extra' } });
    items.push({ set: { family: 'inet', table: 'volt', name: 'mine', type: 'ipv4_addr' } });
  });
  t.deepEqual(describeDrift(model, table), [
    'base chain "volt-input" is type filter hook input priority 5 policy accept, expected type filter hook input priority 0 policy accept',
    'base chain "volt-nat-pre" is missing',
    'chain "net-gone-out" belongs to network "gone", which volt does not manage (left over?)',
    'chain "extra" in table inet volt was not created by volt',
    'set "mine" in table inet volt was not created by volt',
  ]);
});

test('drift: set elements missing, wrong, forbidden or left over', (t) => {
  const table = listed((items) => {
    for (const i of items) {
      const s = i.set ?? i.map;
      if (!s) continue;
      if (s.name === 'nat_subnets') s.elem = [{ prefix: { addr: '10.50.0.0', len: 24 } }];
      if (s.name === 'bridges') s.elem = ['volt-backend', 'volt-old'];
      if (s.name === 'forward_from') s.elem = [['volt-backend', { jump: { target: 'net-internal-out' } }], ['volt-internal', { jump: { target: 'net-internal-out' } }]];
    }
  });
  t.deepEqual(describeDrift(model, table), [
    'network "internal": bridge "volt-internal" is missing from set bridges, so volt-forward does not isolate it',
    'set bridges holds "volt-old", which belongs to no network volt manages (left over?)',
    'network "backend": masquerade is missing: 10.30.0.0/24 is not in set nat_subnets',
    'network "internal": masquerade is set up (10.50.0.0/24 is in set nat_subnets) but the network has NAT disabled',
    'network "backend": forward_from maps "volt-backend" : jump net-internal-out, expected "volt-backend" : jump net-backend-out',
  ]);
});

test('drift: a set of the wrong type', (t) => {
  const table = listed((items) => {
    const s = items.find((i) => i.set?.name === 'nat_subnets');
    if (s?.set) {
      s.set.flags = [];
      s.set.elem = ['10.30.0.0'];
    }
  });
  t.deepEqual(describeDrift(model, table), [
    'set "nat_subnets" has type ipv4_addr, expected a set of type ipv4_addr (flags interval)',
  ]);
});

test('renderRule: forms nft prints, and unknown statements never match', (t) => {
  t.is(renderRule([{ match: { op: '!=', left: { meta: { key: 'oifname' } }, right: '@bridges' } }, { masquerade: null }]), 'oifname != @bridges masquerade');
  t.is(renderRule([{ match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'tcp' } }, { goto: { target: 'x' } }]), 'meta l4proto tcp goto x');
  t.is(renderRule([{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: { set: ['a', 'b'] } } }, { drop: null }]), 'iifname { "a", "b" } drop');
  t.is(renderRule([{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: { range: [1, 9] } } }, { return: null }]), 'tcp dport 1-9 return');
  t.is(renderRule([{ vmap: { key: { meta: { key: 'iifname' } }, data: { set: [['x', { jump: { target: 'y' } }]] } } }]), 'iifname vmap { "x" : jump y }');
  t.regex(renderRule([{ log: { prefix: 'x' } }, { accept: null }]), /^\?\{"log":\{"prefix":"x"\}\} accept$/);
});

test('ruleDiff lists at most three rules of each kind', (t) => {
  t.is(ruleDiff(['a'], ['a']), undefined);
  t.is(ruleDiff(['a', 'b', 'c', 'd', 'e'], []), `missing rules 'a', 'b', 'c' and 2 more`);
  t.is(ruleDiff(['a', 'b'], ['b', 'a']), 'rules are out of order');
});

test('nftError: the first error and the statement it points at', (t) => {
  const stderr = [
    '/dev/stdin:23:37-48: Error: interval overlaps with an existing one',
    'add element inet volt nat_subnets { 10.30.0.0/16 }',
    '                                    ^^^^^^^^^^^^',
    '/dev/stdin:25:37-48: Error: interval overlaps with an existing one',
    'add element inet volt nat_subnets { 10.30.0.0/16 }',
    '                                    ^^^^^^^^^^^^',
    '',
  ].join('\n');
  t.is(nftError(stderr, 1), 'interval overlaps with an existing one (add element inet volt nat_subnets { 10.30.0.0/16 })');
  t.is(nftError('Error: Could not process rule: Operation not permitted\n', 1), 'Could not process rule: Operation not permitted');
  t.is(nftError('netlink: Error: cache initialization failed\n', 1), 'cache initialization failed');
  t.is(nftError('', 3), 'nft exited with code 3');
});

// `nft -j list table bridge volt` (nftables 1.0.6) after setupBase with one dual-stack port: IPv6 closed at layer 2 elsewhere.
const BRIDGE_LISTING = `{"nftables":[
  {"metainfo":{"version":"1.0.6","release_name":"Lester Gooch #5","json_schema_version":1}},
  {"table":{"family":"bridge","name":"volt","handle":6}},
  {"set":{"family":"bridge","name":"ports6","table":"volt","type":"ifname","handle":1,"elem":["vh0123456789"]}},
  {"chain":{"family":"bridge","table":"volt","name":"volt-forward","handle":2,"type":"filter","hook":"forward","prio":-200,"policy":"accept"}},
  {"chain":{"family":"bridge","table":"volt","name":"volt-input","handle":3,"type":"filter","hook":"input","prio":-200,"policy":"accept"}},
  {"chain":{"family":"bridge","table":"volt","name":"volt-output","handle":4,"type":"filter","hook":"output","prio":-200,"policy":"accept"}},
  {"chain":{"family":"bridge","table":"volt","name":"ipv6-closed","handle":5}},
  {"rule":{"family":"bridge","table":"volt","chain":"volt-forward","handle":8,"expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"vh*"}},{"match":{"op":"!=","left":{"meta":{"key":"iifname"}},"right":"@ports6"}},{"jump":{"target":"ipv6-closed"}}]}},
  {"rule":{"family":"bridge","table":"volt","chain":"volt-forward","handle":9,"expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"tap-*"}},{"match":{"op":"!=","left":{"meta":{"key":"iifname"}},"right":"@ports6"}},{"jump":{"target":"ipv6-closed"}}]}},
  {"rule":{"family":"bridge","table":"volt","chain":"volt-forward","handle":10,"expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"vh*"}},{"match":{"op":"!=","left":{"meta":{"key":"oifname"}},"right":"@ports6"}},{"jump":{"target":"ipv6-closed"}}]}},
  {"rule":{"family":"bridge","table":"volt","chain":"volt-forward","handle":11,"expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"tap-*"}},{"match":{"op":"!=","left":{"meta":{"key":"oifname"}},"right":"@ports6"}},{"jump":{"target":"ipv6-closed"}}]}},
  {"rule":{"family":"bridge","table":"volt","chain":"volt-input","handle":13,"expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"vh*"}},{"match":{"op":"!=","left":{"meta":{"key":"iifname"}},"right":"@ports6"}},{"jump":{"target":"ipv6-closed"}}]}},
  {"rule":{"family":"bridge","table":"volt","chain":"volt-input","handle":14,"expr":[{"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"tap-*"}},{"match":{"op":"!=","left":{"meta":{"key":"iifname"}},"right":"@ports6"}},{"jump":{"target":"ipv6-closed"}}]}},
  {"rule":{"family":"bridge","table":"volt","chain":"volt-output","handle":16,"expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"vh*"}},{"match":{"op":"!=","left":{"meta":{"key":"oifname"}},"right":"@ports6"}},{"jump":{"target":"ipv6-closed"}}]}},
  {"rule":{"family":"bridge","table":"volt","chain":"volt-output","handle":17,"expr":[{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"tap-*"}},{"match":{"op":"!=","left":{"meta":{"key":"oifname"}},"right":"@ports6"}},{"jump":{"target":"ipv6-closed"}}]}},
  {"rule":{"family":"bridge","table":"volt","chain":"ipv6-closed","handle":18,"comment":"IPv6 is closed on IPv4-only networks","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ether","field":"type"}},"right":"ip6"}},{"drop":null}]}},
  {"rule":{"family":"bridge","table":"volt","chain":"ipv6-closed","handle":19,"comment":"IPv6 is closed on IPv4-only networks","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ether","field":"type"}},"right":"8021q"}},{"match":{"op":"==","left":{"payload":{"protocol":"vlan","field":"type"}},"right":"ip6"}},{"drop":null}]}},
  {"rule":{"family":"bridge","table":"volt","chain":"ipv6-closed","handle":20,"comment":"IPv6 is closed on IPv4-only networks","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ether","field":"type"}},"right":"8021ad"}},{"match":{"op":"==","left":{"payload":{"protocol":"vlan","field":"type"}},"right":"ip6"}},{"drop":null}]}},
  {"rule":{"family":"bridge","table":"volt","chain":"ipv6-closed","handle":21,"comment":"IPv6 is closed on IPv4-only networks","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ether","field":"type"}},"right":"8021ad"}},{"match":{"op":"==","left":{"payload":{"protocol":"vlan","field":"type"}},"right":"8021q"}},{"match":{"op":"==","left":{"payload":{"protocol":"vlan","field":"type"}},"right":"ip6"}},{"drop":null}]}}
]}`;

function bridgeListing(): string {
  return BRIDGE_LISTING;
}

const PORTS6 = ['vh0123456789'];

const BRIDGE_TABLE = { family: 'bridge', name: 'volt', missing: 'IPv6 is not closed' };

test('bridge table: the listing renders back to the model; a missing table, rule or chain is drift', (t) => {
  const have = parseTableListing(bridgeListing(), 'bridge', 'volt');
  t.deepEqual(describeDrift(bridgeTableModel(PORTS6), have, BRIDGE_TABLE), []);
  t.deepEqual(describeDrift(bridgeTableModel(PORTS6), undefined, BRIDGE_TABLE), ['nftables table bridge volt is missing: IPv6 is not closed']);
  const cut = structuredClone(have!);
  cut.chains.find((c) => c.name === 'ipv6-closed')!.rules.splice(1, 1);
  cut.chains = cut.chains.filter((c) => c.name !== 'volt-output');
  cut.chains.find((c) => c.name === 'volt-forward')!.rules.splice(0, 1);
  t.deepEqual(describeDrift(bridgeTableModel(PORTS6), cut, BRIDGE_TABLE), [
    `base chain "volt-forward" of table bridge volt differs from what volt generates: missing rule 'iifname "vh*" iifname != @ports6 jump ipv6-closed'`,
    'base chain "volt-output" of table bridge volt is missing',
    `chain "ipv6-closed" of table bridge volt differs from what volt generates: missing rule 'ether type 8021q vlan type ip6 drop comment "IPv6 is closed on IPv4-only networks"'`,
  ]);
  // The dual-stack ports are desired state: a port missing from ports6 (IPv6 closed for it) or one too many (open) is drift.
  t.deepEqual(describeDrift(bridgeTableModel([...PORTS6, 'tap-00000000aa']), have, BRIDGE_TABLE), [
    'dual-stack workload port tap-00000000aa: ports6 lacks "tap-00000000aa"',
  ]);
  t.deepEqual(describeDrift(bridgeTableModel([]), have, BRIDGE_TABLE), [
    'set ports6 holds "vh0123456789": IPv6 is open on that port, but no workload of a dual-stack network has it (left over?)',
  ]);
});
