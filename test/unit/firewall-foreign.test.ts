import test from 'ava';
import { foreignWarnings, type ForeignChain } from '@volt/plugin-nftables/dist/foreign';

const BRIDGES = ['volt0', 'volt-backend'];

function chain(over: Partial<ForeignChain>): ForeignChain {
  return { family: 'ip', table: 'filter', name: 'FORWARD', hook: 'forward', type: 'filter', policy: 'accept', rules: [], ...over };
}

const accept = (key: 'iifname' | 'oifname', name: string): unknown[] => [{ match: { op: '==', left: { meta: { key } }, right: name } }, { accept: null }];

test('a Docker-like forward chain with policy drop is reported by table and chain', (t) => {
  const w = foreignWarnings([chain({ policy: 'drop', rules: [accept('iifname', 'docker0')] })], BRIDGES);
  t.is(w.length, 1);
  t.regex(w[0]!, /^table ip filter, chain "FORWARD" \(hook forward, policy drop\) would drop traffic of workloads .* on volt0, volt-backend: nftables runs every base chain/);
});

test('a firewalld-like input chain ending in an unconditional reject is reported', (t) => {
  const w = foreignWarnings(
    [chain({ family: 'inet', table: 'firewalld', name: 'filter_INPUT', hook: 'input', rules: [[{ match: { op: 'in', left: { ct: { key: 'state' } }, right: ['established', 'related'] } }, { accept: null }], [{ counter: null }, { reject: { type: 'icmpx', expr: 'admin-prohibited' } }]] })],
    BRIDGES,
  );
  t.is(w.length, 1);
  t.regex(w[0]!, /table inet firewalld, chain "filter_INPUT" \(hook input, ends in an unconditional reject\) would drop DNS, DHCP/);
});

test("chains that let volt's bridges through, other hooks, nat chains and volt's own table are not reported", (t) => {
  const ok = [
    chain({ policy: 'drop', rules: [accept('iifname', 'volt*'), accept('oifname', 'volt*')] }),
    chain({ name: 'INPUT', hook: 'input', policy: 'drop', rules: [accept('iifname', 'volt*')] }),
    chain({ policy: 'accept', rules: [[{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 23 } }, { drop: null }]] }),
    chain({ name: 'OUTPUT', hook: 'output', policy: 'drop' }),
    chain({ name: 'PRE', hook: 'prerouting', type: 'nat', policy: 'drop' }),
    chain({ family: 'inet', table: 'volt', name: 'volt-forward', policy: 'drop' }),
    chain({ family: 'ip6', policy: 'drop' }),
  ];
  t.deepEqual(foreignWarnings(ok, BRIDGES), []);
  t.deepEqual(foreignWarnings([chain({ policy: 'drop' })], []), [], 'no networks, nothing to warn about');
});

test('a forward chain that only accepts traffic out of the bridges still drops what goes into them', (t) => {
  const w = foreignWarnings([chain({ policy: 'drop', rules: [accept('iifname', 'volt*'), accept('oifname', 'volt0')] })], BRIDGES);
  t.is(w.length, 1);
  t.regex(w[0]!, / on volt-backend: /, 'only the bridge not covered both ways');
});

test('bridge-family chains drop same-bridge traffic', (t) => {
  const w = foreignWarnings([chain({ family: 'bridge', table: 'filter', policy: 'drop' })], BRIDGES);
  t.regex(w[0]!, /would drop traffic between workloads on one bridge/);
});
