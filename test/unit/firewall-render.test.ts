import test from 'ava';
import { parseTableListing, renderRule } from '@volt/plugin-nftables/dist/nft-json';

// Expressions as nft 1.0.6 lists them (`nft -j list table inet volt`) for the overlay's rules.
const CASES: [unknown[], string][] = [
  [
    [
      { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '@wl-web' } },
      { match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: { range: [8000, 8080] } } },
      { reject: { type: 'tcp reset' } },
    ],
    'ip saddr @wl-web tcp dport 8000-8080 reject with tcp reset',
  ],
  [
    [
      { match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'volt-backend' } },
      { match: { op: '==', left: { payload: { protocol: 'udp', field: 'dport' } }, right: 53 } },
      { reject: { type: 'icmpx', expr: 'port-unreachable' } },
    ],
    'iifname "volt-backend" udp dport 53 reject with icmpx port-unreachable',
  ],
  [[{ match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'icmp' } }, { drop: null }], 'meta l4proto icmp drop'],
  [
    [
      { match: { op: '==', left: { concat: [{ payload: { protocol: 'ip', field: 'saddr' } }, { payload: { protocol: 'ip', field: 'daddr' } }, { meta: { key: 'l4proto' } }, { payload: { protocol: 'th', field: 'dport' } }] }, right: '@pol_allow_sdpp' } },
      { accept: null },
    ],
    'ip saddr . ip daddr . meta l4proto . th dport @pol_allow_sdpp accept',
  ],
  [[{ match: { op: '!=', left: { payload: { protocol: 'ip', field: 'daddr' } }, right: '@pol_isolated' } }, { return: null }], 'ip daddr != @pol_isolated return'],
  [
    [
      { match: { op: '==', left: { fib: { result: 'type', flags: ['daddr'] } }, right: 'local' } },
      { dnat: { family: 'ip', addr: { map: { key: { concat: [{ meta: { key: 'l4proto' } }, { payload: { protocol: 'th', field: 'dport' } }] }, data: '@pf_port' } } } },
    ],
    'fib daddr type local dnat ip to meta l4proto . th dport map @pf_port',
  ],
  [
    [
      { match: { op: 'in', left: { ct: { key: 'status' } }, right: 'dnat' } },
      { match: { op: '==', left: { concat: [{ payload: { protocol: 'ip', field: 'saddr' } }, { meta: { key: 'oifname' } }] }, right: '@hairpin' } },
      { masquerade: null },
    ],
    'ct status dnat ip saddr . oifname @hairpin masquerade',
  ],
  [[{ jump: { target: 'fwf-3' } }], 'jump fwf-3'],
];

for (const [expr, text] of CASES) {
  test(`renders ${text}`, (t) => {
    t.is(renderRule(expr), text);
  });
}

test('renders comments and concatenated set and map elements (ifname parts quoted)', (t) => {
  t.is(renderRule([{ accept: null }], 'volt:a'), 'accept comment "volt:a"');
  const listing = parseTableListing(
    JSON.stringify({
      nftables: [
        { table: { family: 'inet', name: 'volt' } },
        { set: { family: 'inet', name: 'pol_allow_sdpp', table: 'volt', type: ['ipv4_addr', 'ipv4_addr', 'inet_proto', 'inet_service'], elem: [{ concat: ['10.0.0.2', '10.0.0.3', 'tcp', 5432] }] } },
        { map: { family: 'inet', name: 'pf_port', table: 'volt', type: ['inet_proto', 'inet_service'], map: 'ipv4_addr . inet_service', elem: [[{ concat: ['tcp', 8080] }, { concat: ['10.30.0.10', 80] }]] } },
        { set: { family: 'inet', name: 'hairpin', table: 'volt', type: ['ipv4_addr', 'ifname'], flags: ['interval'], elem: [{ concat: [{ prefix: { addr: '10.30.0.0', len: 24 } }, 'volt-backend'] }] } },
        { set: { family: 'inet', name: 'bridges', table: 'volt', type: 'ifname', elem: ['volt0'] } },
      ],
    }),
    'inet',
    'volt',
  );
  const el = (n: string) => listing?.sets.find((s) => s.name === n)?.elements;
  t.deepEqual(el('pol_allow_sdpp'), ['10.0.0.2 . 10.0.0.3 . tcp . 5432']);
  t.deepEqual(el('pf_port'), ['tcp . 8080 : 10.30.0.10 . 80']);
  t.deepEqual(el('hairpin'), ['10.30.0.0/24 . "volt-backend"']);
  t.deepEqual(el('bridges'), ['"volt0"']);
  t.is(listing?.sets.find((s) => s.name === 'pf_port')?.type, 'inet_proto . inet_service');
});
