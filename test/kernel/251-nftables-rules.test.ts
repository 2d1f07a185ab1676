/**
 * User rules, port forwards and policies through NftablesFirewall against real
 * nftables, each test in a namespace of its own with a real bridge (for the
 * per-bridge settings). The driver runs inside the namespace
 * (nftables-runner); assertions read `nft -j list` there.
 */
import test, { type ExecutionContext } from 'ava';
import { runCommand } from '@volt/sdk/kernel';
import type { FirewallNetwork, FirewallRuleSet, FirewallUserRule, HostInputPolicy } from '@volt/sdk';
import { findNft } from '@volt/plugin-nftables/dist/nft-binary';
import { nftDriver, nftOk } from './nftables-client';

const NFT = findNft() ?? 'nft';
const POLICY: HostInputPolicy = { policy: 'drop', allow: ['tcp/22'] };
const NET: FirewallNetwork = { name: 'alpha', bridge: 'volt-alpha', subnet: '10.71.0.0/24', gateway: '10.71.0.1', nat: true };
let counter = 0;

async function must(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await runCommand(cmd, args, { input, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** A namespace with lo up and the bridge volt-alpha (10.71.0.1/24), br_netfilter's namespace switch off. */
async function netns(t: ExecutionContext): Promise<string> {
  counter += 1;
  const name = `vt-nfr-${process.pid}-${counter}`;
  await must('ip', ['netns', 'add', name]);
  t.teardown(async () => {
    await runCommand('ip', ['netns', 'del', name]);
  });
  await must('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  await must('ip', ['-n', name, 'link', 'add', NET.bridge, 'type', 'bridge']);
  await must('ip', ['-n', name, 'addr', 'add', '10.71.0.1/24', 'dev', NET.bridge]);
  await must('ip', ['-n', name, 'link', 'set', NET.bridge, 'up']);
  // Off, so that what volt turns on per bridge is visible.
  await runCommand('ip', ['netns', 'exec', name, 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0']);
  return name;
}

const driver = nftDriver;
const ok = nftOk;

async function check(ns: string, rules: FirewallRuleSet | undefined): Promise<string[]> {
  return (await ok(ns, [{ method: 'check', args: [POLICY, [NET], rules] }]))[0] as string[];
}

async function listing(ns: string): Promise<string> {
  return must('ip', ['netns', 'exec', ns, NFT, '-j', 'list', 'table', 'inet', 'volt']);
}

function rule(name: string, order: number, over: Partial<FirewallUserRule> = {}): FirewallUserRule {
  return { name, order, chain: 'forward', source: { kind: 'any' }, dest: { kind: 'group', group: 'web' }, proto: 'tcp', ports: [{ from: 80, to: 80 }], action: 'accept', ...over };
}

const RULES: FirewallRuleSet = {
  rules: [
    rule('allow-http', 1024, { ports: [{ from: 80, to: 80 }, { from: 443, to: 443 }] }),
    rule('no-ssh', 2048, { dest: { kind: 'cidr', cidr: '10.71.0.0/24' }, ports: [{ from: 22, to: 22 }], action: 'reject', proto: 'any' }),
    rule('host', 3072, { chain: 'input', source: { kind: 'group', group: 'web@alpha' }, dest: { kind: 'any' }, proto: 'icmp', ports: [], inBridge: NET.bridge, action: 'drop' }),
  ],
  groups: { web: ['10.71.0.10'], 'web@alpha': ['10.71.0.10'] },
  forwards: [
    { hostPort: 8080, proto: 'tcp', targetIp: '10.71.0.10', targetPort: 80 },
    { hostIp: '10.71.0.1', hostPort: 5353, proto: 'udp', targetIp: '10.71.0.11', targetPort: 53 },
  ],
  policies: [
    { name: 'p1', from: { kind: 'addresses', addresses: ['10.71.0.11'] }, to: ['10.71.0.10'], proto: 'tcp', ports: [5432], action: 'allow' },
    { name: 'p2', from: { kind: 'any' }, to: ['10.71.0.10'], proto: 'any', ports: [], action: 'deny' },
  ],
  networks: [NET],
};

test('a table set up with rules matches what volt generates, bridge settings included', async (t) => {
  const ns = await netns(t);
  await ok(ns, [{ method: 'setupBase', args: [POLICY, RULES] }, { method: 'setupNetwork', args: [NET] }]);
  const drift = await check(ns, RULES);
  t.deepEqual(drift, [
    'bridge volt-alpha: nf_call_iptables is off, so policies and forward rules do not see traffic between its workloads',
    'bridge volt-alpha: route_localnet is off, so port forwards do not answer on 127.0.0.1',
  ]);
  const [before] = (await ok(ns, [{ method: 'bridgeFiltering', args: [[NET.bridge, 'volt-none']] }])) as [unknown];
  t.deepEqual(before, [
    // IPv6 (for dual-stack networks): this namespace leaves bridge-nf-call-ip6tables at its default.
    {
      bridge: NET.bridge,
      filtered: false,
      reason: 'br_netfilter is off for volt-alpha (nf_call_iptables 0, net.bridge.bridge-nf-call-iptables=0)',
      filtered6: true,
      reason6: 'net.bridge.bridge-nf-call-ip6tables=1',
    },
    { bridge: 'volt-none', filtered: false, reason: 'bridge volt-none does not exist', filtered6: false, reason6: 'bridge volt-none does not exist' },
  ]);
  // The same rule set again: no nft change, only the bridge settings.
  const table = await listing(ns);
  await ok(ns, [{ method: 'applyRules', args: [RULES, RULES] }]);
  t.is(await listing(ns), table, 'handles included: nft was not touched');
  t.deepEqual(await check(ns, RULES), []);
  const [after] = (await ok(ns, [{ method: 'bridgeFiltering', args: [[NET.bridge]] }])) as [unknown];
  t.deepEqual(after, [{ bridge: NET.bridge, filtered: true, reason: 'per-bridge nf_call_iptables', filtered6: true, reason6: 'net.bridge.bridge-nf-call-ip6tables=1' }]);
  t.is((await must('ip', ['netns', 'exec', ns, 'sysctl', '-n', `net.ipv4.conf.${NET.bridge}.route_localnet`])).trim(), '1');
  // Only volt's table, and the base chains with their hooks (nat output for the host's own connections).
  t.is((await must('ip', ['netns', 'exec', ns, NFT, 'list', 'tables'])).trim(), 'table inet volt\ntable bridge volt', 'volt\'s two tables only');
  t.regex(await must('ip', ['netns', 'exec', ns, NFT, 'list', 'chain', 'inet', 'volt', 'volt-nat-out']), /type nat hook output priority -100; policy accept;/);
});

test('changes apply as differences, hand edits are detected, and a drifted kernel is replaced as a whole', async (t) => {
  const ns = await netns(t);
  await ok(ns, [{ method: 'setupBase', args: [POLICY, RULES] }, { method: 'setupNetwork', args: [NET] }, { method: 'applyRules', args: [RULES, RULES] }]);
  const next: FirewallRuleSet = {
    ...RULES,
    rules: [RULES.rules[0]!, RULES.rules[2]!, rule('db', 4096, { dest: { kind: 'group', group: 'db' }, ports: [{ from: 5432, to: 5432 }] })],
    groups: { web: ['10.71.0.20'], 'web@alpha': ['10.71.0.20'], db: ['10.71.0.30', '10.71.0.31'] },
    forwards: [{ ...RULES.forwards[0]!, targetIp: '10.71.0.20' }],
    policies: [RULES.policies[0]!],
  };
  await ok(ns, [{ method: 'applyRules', args: [next, RULES] }]);
  t.deepEqual(await check(ns, next), []);
  t.deepEqual(await check(ns, RULES), await check(ns, RULES), 'deterministic');
  t.true((await check(ns, RULES)).length > 0, 'the old rule set is no longer what the kernel has');

  // Someone deletes an element by hand; the next change cannot apply as a difference and replaces instead.
  await must('ip', ['netns', 'exec', ns, NFT, 'delete', 'element', 'inet', 'volt', 'pf_port', '{ tcp . 8080 }']);
  t.deepEqual(await check(ns, next), ['port forward 8080/tcp: pf_port lacks tcp . 8080 : 10.71.0.20 . 80']);
  await must('ip', ['netns', 'exec', ns, NFT, 'add', 'element', 'inet', 'volt', 'wl-db', '{ 10.71.0.99 }']);
  t.deepEqual((await check(ns, next)).slice(-1), ['set wl-db holds 10.71.0.99, which no firewall rule, port forward or policy in desired state produces (left over?)']);
  await ok(ns, [{ method: 'applyRules', args: [RULES, next] }]);
  t.deepEqual(await check(ns, RULES), []);

  // Removing every rule leaves the hooks and an empty overlay.
  await ok(ns, [{ method: 'removeRules' }]);
  const empty: FirewallRuleSet = { rules: [], groups: {}, forwards: [], policies: [], networks: [NET] };
  t.deepEqual(await check(ns, empty), []);
});

test('a change the kernel refuses leaves the table (and the bridge settings) as they were', async (t) => {
  const ns = await netns(t);
  await ok(ns, [{ method: 'setupBase', args: [POLICY, { ...RULES, rules: [], policies: [], forwards: [] }] }, { method: 'setupNetwork', args: [NET] }]);
  // A set of the name volt will want, with another type: nft refuses the whole transaction.
  await must('ip', ['netns', 'exec', ns, NFT, 'add', 'set', 'inet', 'volt', 'wl-web', '{ type ipv4_addr . inet_service; }']);
  const before = await listing(ns);
  const { results } = await driver(ns, [{ method: 'applyRules', args: [RULES, { ...RULES, rules: [], policies: [], forwards: [] }] }]);
  t.false(results[0]?.ok);
  if (results[0] && !results[0].ok) {
    t.is(results[0].error.name, 'DriverError');
    t.regex(results[0].error.message, /^apply firewall rules: /);
  }
  t.is(await listing(ns), before, 'handles included: nothing changed');
  const [f] = (await ok(ns, [{ method: 'bridgeFiltering', args: [[NET.bridge]] }])) as [{ filtered: boolean }[]];
  t.false(f[0]!.filtered, 'nf_call_iptables was put back');

  // A table made without the hooks (an older volt): a clear error naming the fix.
  const old = await netns(t);
  await ok(old, [{ method: 'setupBase', args: [POLICY] }, { method: 'setupNetwork', args: [NET] }]);
  const plain = await listing(old);
  const { results: r2 } = await driver(old, [{ method: 'applyRules', args: [RULES] }]);
  t.like(r2[0], { ok: false, error: { code: 'E_FIREWALL_DRIFT' } });
  t.is(await listing(old), plain);
});

test('foreign base chains that would drop volt traffic are reported; other tables are never written', async (t) => {
  const ns = await netns(t);
  await ok(ns, [{ method: 'setupBase', args: [POLICY, RULES] }, { method: 'setupNetwork', args: [NET] }]);
  await must('ip', ['netns', 'exec', ns, NFT, '-f', '-'], 'table ip filter {\n chain FORWARD {\n  type filter hook forward priority filter; policy drop;\n }\n}\n');
  const foreign = await must('ip', ['netns', 'exec', ns, NFT, '-j', 'list', 'table', 'ip', 'filter']);
  const [w] = (await ok(ns, [{ method: 'foreignConflicts', args: [[NET.bridge]] }, { method: 'applyRules', args: [RULES] }])) as [string[]];
  t.is(w.length, 1);
  t.regex(w[0]!, /^table ip filter, chain "FORWARD" \(hook forward, policy drop\) would drop/);
  t.is(await must('ip', ['netns', 'exec', ns, NFT, '-j', 'list', 'table', 'ip', 'filter']), foreign);
});
