/**
 * The two kernel access paths of the nftables driver, libnftables in-process
 * (the default) and the nft program (VOLT_KERNEL_ACCESS=process), give the same
 * answers: the same exit codes, listings, error messages and resulting
 * ruleset, each run in a namespace of its own.
 */
import test, { type ExecutionContext } from 'ava';
import * as path from 'node:path';
import { runCommand, type RunResult } from '@volt/sdk/kernel';
import type { FirewallNetwork, FirewallRuleSet, HostInputPolicy } from '@volt/sdk';
import { findNft } from '@volt/plugin-nftables/dist/nft-binary';

const NFT = findNft() ?? 'nft';
const ACCESS_RUNNER = path.join(__dirname, 'nft-access-runner.js');
const DRIVER_RUNNER = path.join(__dirname, 'nftables-runner.js');
type Mode = 'library' | 'process';
let counter = 0;

async function netns(t: ExecutionContext): Promise<string> {
  counter += 1;
  const name = `vt-nfa-${process.pid}-${counter}`;
  const r = await runCommand('ip', ['netns', 'add', name]);
  if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  t.teardown(async () => {
    await runCommand('ip', ['netns', 'del', name]);
  });
  return name;
}

async function inNs(ns: string, mode: Mode, script: string, arg: string, trace = false): Promise<RunResult> {
  const env = [`VOLT_KERNEL_ACCESS=${mode}`, ...(trace ? ['VOLT_TRACE=1'] : [])];
  return runCommand('ip', ['netns', 'exec', ns, 'env', ...env, process.execPath, script, arg], { timeoutMs: 60_000 });
}

async function raw(t: ExecutionContext, mode: Mode, calls: [string[], string?][]): Promise<{ via: string; results: RunResult[] }> {
  const ns = await netns(t);
  const r = await inNs(ns, mode, ACCESS_RUNNER, JSON.stringify(calls));
  if (r.code !== 0) throw new Error(`access runner (${mode}) exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { via: string; results: RunResult[] };
}

/** JSON listings without the metainfo object (it names the program or library version). */
function normalise(r: RunResult): RunResult {
  const stdout = r.stdout.startsWith('{')
    ? JSON.stringify((JSON.parse(r.stdout) as { nftables: object[] }).nftables.filter((i) => !('metainfo' in i)))
    : r.stdout;
  return { code: r.code, stdout, stderr: r.stderr };
}

const SCRIPT = `table inet vt {
  set addrs { type ipv4_addr; flags interval; elements = { 10.0.0.0/24, 192.0.2.7 } }
  chain c {
    type filter hook forward priority 0; policy accept;
    ip saddr @addrs tcp dport { 22, 80 } counter accept comment "volt:r1"
    meta nfproto ipv6 drop
  }
}
`;
const BAD_SCRIPT = 'add table inet vt2\nadd chain inet vt2 c { type filter hook input priority 0; }\nadd rule inet vt2 c tcp dport 22 acept\n';
const CALLS: [string[], string?][] = [
  [['-f', '-'], SCRIPT],
  [['-j', 'list', 'table', 'inet', 'vt']],
  [['-t', '-j', 'list', 'sets', 'inet']],
  [['-a', 'list', 'chain', 'inet', 'vt', 'c']],
  [['list', 'table', 'inet', 'vt']],
  [['-j', 'list', 'flowtables']],
  // A syntax error on line 3 of a script: nothing of it applies, the message names the line.
  [['-f', '-'], BAD_SCRIPT],
  [['list', 'table', 'inet', 'vt2']],
  // A dry run of a valid script changes nothing.
  [['-c', '-f', '-'], 'add table inet vt3\n'],
  [['list', 'table', 'inet', 'vt3']],
  [['delete', 'table', 'inet', 'nosuch']],
  [['delete', 'table', 'inet', 'vt']],
  [['-j', 'list', 'tables']],
];

test('libnftables and the nft program: same exit codes, listings and errors for the same calls', async (t) => {
  const lib = await raw(t, 'library', CALLS);
  const proc = await raw(t, 'process', CALLS);
  t.is(lib.via, 'libnftables');
  t.is(proc.via, NFT);
  t.is(lib.results.length, CALLS.length);
  for (let i = 0; i < CALLS.length; i++) {
    const what = (CALLS[i]?.[0] ?? []).join(' ');
    t.deepEqual(normalise(lib.results[i] as RunResult), normalise(proc.results[i] as RunResult), `call ${i}: nft ${what}`);
  }
  // The answers themselves, so that equal is not equally wrong.
  const codes = lib.results.map((r) => r.code);
  t.deepEqual(codes, [0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0]);
  t.regex(lib.results[3]?.stdout ?? '', /counter packets 0 bytes 0 accept comment "volt:r1" # handle \d+/);
  t.regex(lib.results[6]?.stderr ?? '', /^\/dev\/stdin:3:\d+-\d+: Error: syntax error.*\nadd rule inet vt2 c tcp dport 22 acept\n/s);
  t.regex(lib.results[10]?.stderr ?? '', /No such file or directory/);
  t.is(normalise(lib.results[12] as RunResult).stdout, '[]');
});

const POLICY: HostInputPolicy = { policy: 'drop', allow: ['tcp/22'] };
const NETS: FirewallNetwork[] = [
  { name: 'a', bridge: 'volt-a', subnet: '10.41.0.0/24', gateway: '10.41.0.1', nat: true },
  { name: 'b', bridge: 'volt-b', subnet: '10.42.0.0/24', gateway: '10.42.0.1', nat: false },
];
const RULES: FirewallRuleSet = {
  rules: [
    { name: 'ssh', order: 1024, chain: 'forward', source: { kind: 'cidr', cidr: '10.41.0.0/24' }, dest: { kind: 'cidr', cidr: '10.42.0.5/32' }, proto: 'tcp', ports: [{ from: 22, to: 22 }], action: 'accept' },
  ],
  groups: {},
  forwards: [],
  policies: [],
  networks: NETS,
};

test('the driver runs on libnftables by default and on nft with VOLT_KERNEL_ACCESS=process, to the same ruleset', async (t) => {
  const calls = JSON.stringify([
    { method: 'setupBase', args: [POLICY, RULES] },
    ...NETS.map((n) => ({ method: 'setupNetwork', args: [n] })),
    { method: 'applyRules', args: [RULES, RULES] },
    { method: 'check', args: [POLICY, NETS, RULES] },
  ]);
  const rulesets: string[] = [];
  for (const mode of ['library', 'process'] as const) {
    const ns = await netns(t);
    const r = await inNs(ns, mode, DRIVER_RUNNER, calls, true);
    t.is(r.code, 0, r.stderr);
    const results = JSON.parse(r.stdout) as { ok: boolean; value?: unknown }[];
    t.true(results.every((x) => x.ok), `${mode}: ${r.stdout}`);
    t.deepEqual(results.at(-1)?.value, [], `${mode}: check finds no drift`);
    const traced = r.stderr.split('\n').filter((l) => l.startsWith('trace: '));
    if (mode === 'library') {
      t.true(traced.some((l) => / libnftables -f -$/.test(l)), `library: the transactions went through libnftables\n${traced.join('\n')}`);
      t.false(traced.some((l) => l.includes(`${NFT} `)), `library: no nft process\n${traced.join('\n')}`);
    } else {
      t.true(traced.some((l) => l.includes(`${NFT} -f -`)), `process: nft -f ran\n${traced.join('\n')}`);
      t.false(traced.some((l) => l.includes('libnftables')), `process: libnftables unused\n${traced.join('\n')}`);
    }
    const listing = await runCommand('ip', ['netns', 'exec', ns, NFT, 'list', 'ruleset']);
    t.is(listing.code, 0);
    rulesets.push(listing.stdout.replace(/# handle \d+/g, ''));
  }
  t.regex(rulesets[0] ?? '', /table inet volt/);
  t.is(rulesets[0], rulesets[1]);
});

test('an unknown VOLT_KERNEL_ACCESS is a clear configuration error, and nothing is applied', async (t) => {
  const ns = await netns(t);
  const r = await runCommand('ip', ['netns', 'exec', ns, 'env', 'VOLT_KERNEL_ACCESS=netlink', process.execPath, DRIVER_RUNNER, JSON.stringify([{ method: 'setupBase', args: [POLICY] }])]);
  const [res] = JSON.parse(r.stdout) as { ok: boolean; error?: { code?: string; message: string } }[];
  t.false(res?.ok);
  t.is(res?.error?.code, 'E_KERNEL_ACCESS_INVALID');
  t.regex(res?.error?.message ?? '', /VOLT_KERNEL_ACCESS=netlink is not a kernel access mode/);
  const listing = await runCommand('ip', ['netns', 'exec', ns, NFT, 'list', 'ruleset']);
  t.is(listing.stdout.trim(), '');
});
