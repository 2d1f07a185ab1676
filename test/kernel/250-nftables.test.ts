/**
 * NftablesFirewall against real nftables, each test in namespaces of its own.
 * The driver runs inside the namespace (nftables-runner through
 * `ip netns exec`); assertions read `nft -j list` in that namespace. The root
 * namespace's ruleset is never read or written.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { runCommand } from '@volt/sdk/kernel';
import type { FirewallNetwork, HostInputPolicy } from '@volt/sdk';
import { findNft } from '@volt/plugin-nftables/dist/nft-binary';
import { nftDriver, nftOk, type NftCall, type NftResult } from './nftables-client';

// Not plain `nft`: under npx, node_modules/.bin/nft (@vercel/nft) comes first on PATH.
const NFT = findNft() ?? 'nft';
const POLICY: HostInputPolicy = { policy: 'drop', allow: ['tcp/22'] };

function net(name: string, third: number, nat: boolean, prefix = 24): FirewallNetwork {
  return { name, bridge: `volt-${name}`, subnet: `10.${third}.0.0/${prefix}`, gateway: `10.${third}.0.1`, nat };
}

// ---------------------------------------------------------------------------
// Namespaces and commands

let counter = 0;

async function must(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await runCommand(cmd, args, { input, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** A fresh namespace with lo up, deleted when the test ends (also on failure). */
async function netns(t: ExecutionContext, role = ''): Promise<string> {
  counter += 1;
  const name = `vt-nft-${process.pid}-${counter}${role}`;
  await must('ip', ['netns', 'add', name]);
  t.teardown(async () => {
    await runCommand('ip', ['netns', 'del', name]);
  });
  await must('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

const inNs = (ns: string, cmd: string, ...args: string[]): Promise<string> => must('ip', ['netns', 'exec', ns, cmd, ...args]);

const driver = async (ns: string, calls: NftCall[]): Promise<NftResult[]> => (await nftDriver(ns, calls)).results;
const ok = nftOk;

async function check(ns: string, nets: FirewallNetwork[], policy = POLICY): Promise<string[]> {
  const [drift] = await ok(ns, [{ method: 'check', args: [policy, nets] }]);
  return drift as string[];
}

const setupAll = (nets: FirewallNetwork[], policy = POLICY): NftCall[] => [
  { method: 'setupBase', args: [policy] },
  ...nets.map((n): NftCall => ({ method: 'setupNetwork', args: [n] })),
];

// ---------------------------------------------------------------------------
// nft listings

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The items of `nft -j list table`, without metainfo; undefined when the table does not exist. */
async function listTable(ns: string, family = 'inet', table = 'volt'): Promise<JsonObject[] | undefined> {
  const r = await runCommand('ip', ['netns', 'exec', ns, NFT, '-j', 'list', 'table', family, table]);
  if (r.code !== 0) {
    if (/No such file or directory/.test(r.stderr)) return undefined;
    throw new Error(`nft list table ${family} ${table}: ${r.stderr}`);
  }
  const raw: unknown = JSON.parse(r.stdout);
  const items = isObject(raw) && Array.isArray(raw.nftables) ? raw.nftables : [];
  return items.filter((i): i is JsonObject => isObject(i) && !('metainfo' in i));
}

/** Handles change when rules are re-added; set element order is not meaningful. */
function semantic(v: Json): Json {
  if (Array.isArray(v)) return v.map(semantic);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, val] of Object.entries(v)) {
    if (k === 'handle') continue;
    out[k] = k === 'elem' && Array.isArray(val) ? val.map(semantic).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) : semantic(val);
  }
  return out;
}

function objectsOf(items: JsonObject[] | undefined, kind: string): JsonObject[] {
  return (items ?? []).map((i) => i[kind]).filter(isObject);
}

const chainNames = (items: JsonObject[] | undefined): string[] => objectsOf(items, 'chain').map((c) => String(c.name));

function elements(items: JsonObject[] | undefined, set: string): string[] {
  const s = [...objectsOf(items, 'set'), ...objectsOf(items, 'map')].find((x) => x.name === set);
  const elem = s && Array.isArray(s.elem) ? s.elem : [];
  return elem.map((e) => JSON.stringify(e));
}

/** The handle of the first rule in a chain whose text contains `text`. */
async function ruleHandle(ns: string, chain: string, text: string): Promise<string> {
  const listing = await inNs(ns, NFT, '-a', 'list', 'chain', 'inet', 'volt', chain);
  const line = listing.split('\n').find((l) => l.includes(text));
  const m = line ? /# handle (\d+)/.exec(line) : null;
  if (!m?.[1]) throw new Error(`no rule "${text}" in chain ${chain}:\n${listing}`);
  return m[1];
}

// ---------------------------------------------------------------------------

test('available() reports nft usable in the namespace', async (t) => {
  const ns = await netns(t);
  const [availability] = await ok(ns, [{ method: 'available' }]);
  t.like(availability, { ok: true });
  t.regex((availability as { reason: string }).reason, /^nft \d+\.\d+/);
});

test('setupBase creates table inet volt with the spec chains on their hooks', async (t) => {
  const ns = await netns(t);
  await ok(ns, setupAll([]));
  const items = await listTable(ns);
  t.truthy(items, 'table inet volt exists');
  const hooks = Object.fromEntries(
    objectsOf(items, 'chain').map((c) => [String(c.name), { type: c.type, hook: c.hook, prio: c.prio, policy: c.policy }]),
  );
  t.deepEqual(hooks, {
    'volt-input': { type: 'filter', hook: 'input', prio: 0, policy: 'accept' },
    'volt-forward': { type: 'filter', hook: 'forward', prio: 0, policy: 'accept' },
    'volt-nat-pre': { type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' },
    'volt-nat-post': { type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' },
  });
  t.deepEqual(objectsOf(items, 'set').map((s) => [s.name, s.type, s.flags ?? []]), [
    ['bridges', 'ifname', []],
    ['nat_subnets', 'ipv4_addr', ['interval']],
    ['bridges6', 'ifname', []],
    ['nat_subnets6', 'ipv6_addr', ['interval']],
  ]);
  t.deepEqual(objectsOf(items, 'map').map((m) => [m.name, m.type, m.map]), [
    ['forward_from', 'ifname', 'verdict'],
    ['input_from', 'ifname', 'verdict'],
  ]);
  // One table only, and it is volt's.
  t.is((await inNs(ns, NFT, 'list', 'tables')).trim(), 'table inet volt\ntable bridge volt', 'volt\'s two tables only: inet (filter, NAT) and bridge (IPv6 closed at layer 2)');
  const input = await inNs(ns, NFT, 'list', 'chain', 'inet', 'volt', 'volt-input');
  t.regex(input, /tcp dport 22 accept\n\s+drop\n/);
});

test('setupNetwork and setupBase are idempotent: a second run changes nothing', async (t) => {
  const ns = await netns(t);
  const nets = [net('alpha', 71, true), net('beta', 72, false)];
  await ok(ns, setupAll(nets));
  const once = await listTable(ns);
  await ok(ns, [...nets.map((n): NftCall => ({ method: 'setupNetwork', args: [n] })), ...setupAll(nets)]);
  const twice = await listTable(ns);
  t.truthy(once);
  t.deepEqual(semantic(twice ?? null), semantic(once ?? null));
  t.deepEqual(chainNames(twice).filter((c) => c.startsWith('net-')), ['net-alpha-out', 'net-alpha-in', 'net-beta-out', 'net-beta-in']);
  t.deepEqual(elements(twice, 'nat_subnets'), [JSON.stringify({ prefix: { addr: '10.71.0.0', len: 24 } })]);
  t.regex(await inNs(ns, NFT, 'list', 'chain', 'inet', 'volt', 'net-alpha-out'), /oifname @bridges drop\n\s+accept\n/);
  t.regex(await inNs(ns, NFT, 'list', 'chain', 'inet', 'volt', 'net-beta-out'), /oifname @bridges drop\n\s+drop\n/);
});

test('switching a network to --no-nat removes its masquerade', async (t) => {
  const ns = await netns(t);
  const alpha = net('alpha', 71, true);
  await ok(ns, [...setupAll([alpha]), { method: 'setupNetwork', args: [{ ...alpha, nat: false }] }]);
  t.deepEqual(elements(await listTable(ns), 'nat_subnets'), []);
  t.deepEqual(await check(ns, [{ ...alpha, nat: false }]), []);
});

test('teardownNetwork removes only that network, and absent is success', async (t) => {
  const ns = await netns(t);
  const alpha = net('alpha', 71, true);
  const beta = net('beta', 72, true);
  await ok(ns, setupAll([alpha, beta]));
  await ok(ns, [
    { method: 'teardownNetwork', args: [alpha] },
    { method: 'teardownNetwork', args: [alpha] },
    { method: 'teardownNetwork', args: [net('never', 73, true)] },
  ]);
  const items = await listTable(ns);
  t.deepEqual(chainNames(items), ['volt-input', 'volt-forward', 'volt-nat-pre', 'volt-nat-post', 'net-beta-out', 'net-beta-in']);
  t.deepEqual(elements(items, 'bridges'), ['"volt-beta"']);
  t.deepEqual(elements(items, 'forward_from'), [JSON.stringify(['volt-beta', { jump: { target: 'net-beta-out' } }])]);
  t.deepEqual(elements(items, 'input_from'), [JSON.stringify(['volt-beta', { jump: { target: 'net-beta-in' } }])]);
  t.deepEqual(elements(items, 'nat_subnets'), [JSON.stringify({ prefix: { addr: '10.72.0.0', len: 24 } })]);
  t.deepEqual(await check(ns, [beta]), []);

  // No table at all: success, and nothing is created.
  const empty = await netns(t);
  await ok(empty, [{ method: 'teardownNetwork', args: [alpha] }]);
  t.is(await listTable(empty), undefined);
});

test('teardownBase removes table inet volt and leaves other tables untouched', async (t) => {
  const ns = await netns(t);
  await must(
    'ip',
    ['netns', 'exec', ns, NFT, '-f', '-'],
    [
      'table inet other {',
      '  set s { type ipv4_addr; elements = { 192.0.2.7 }; }',
      '  chain c { type filter hook forward priority 10; policy accept; ip saddr @s counter drop; }',
      '}',
      // Same table name, other family: not volt's.
      'table ip volt { chain c { tcp dport 80 accept; }; }',
      '',
    ].join('\n'),
  );
  const otherBefore = await listTable(ns, 'inet', 'other');
  const ipVoltBefore = await listTable(ns, 'ip', 'volt');
  await ok(ns, [...setupAll([net('alpha', 71, true)]), { method: 'teardownBase' }, { method: 'teardownBase' }]);
  t.is(await listTable(ns), undefined);
  t.deepEqual(await listTable(ns, 'inet', 'other'), otherBefore);
  t.deepEqual(await listTable(ns, 'ip', 'volt'), ipVoltBefore);

  const empty = await netns(t);
  await ok(empty, [{ method: 'teardownBase' }]);
  t.is(await listTable(empty), undefined);
});

test('check() is empty after setup and names each hand edit', async (t) => {
  const ns = await netns(t);
  const alpha = net('alpha', 71, true);
  const beta = net('beta', 72, false);
  const nets = [alpha, beta];
  await ok(ns, setupAll(nets));
  t.deepEqual(await check(ns, nets), []);

  // A rule deleted from a network chain.
  await inNs(ns, NFT, 'delete', 'rule', 'inet', 'volt', 'net-alpha-in', 'handle', await ruleHandle(ns, 'net-alpha-in', 'udp dport 67'));
  t.deepEqual(await check(ns, nets), [
    `network "alpha": chain "net-alpha-in" differs from what volt generates: missing rule 'udp dport 67 accept'`,
  ]);

  // A base chain deleted, masquerade removed, a foreign rule added.
  await inNs(ns, NFT, 'delete', 'chain', 'inet', 'volt', 'volt-nat-pre');
  await inNs(ns, NFT, 'delete', 'element', 'inet', 'volt', 'nat_subnets', '{ 10.71.0.0/24 }');
  await inNs(ns, NFT, 'add', 'rule', 'inet', 'volt', 'volt-forward', 'tcp', 'dport', '9999', 'accept');
  const drift = await check(ns, nets);
  t.true(drift.includes('base chain "volt-nat-pre" is missing'), drift.join('\n'));
  t.true(drift.includes('network "alpha": masquerade is missing: 10.71.0.0/24 is not in set nat_subnets'), drift.join('\n'));
  t.true(drift.includes(`base chain "volt-forward" differs from what volt generates: unexpected rule 'tcp dport 9999 accept'`), drift.join('\n'));

  // Networks volt does not know about, and a policy that differs.
  const forgotten = await check(ns, [alpha], { policy: 'accept', allow: [] });
  t.true(forgotten.some((s) => s.startsWith('chain "net-beta-out" belongs to network "beta"')), forgotten.join('\n'));
  t.true(forgotten.some((s) => s.startsWith('base chain "volt-input" differs')), forgotten.join('\n'));

  // Re-applying repairs everything.
  await ok(ns, setupAll(nets));
  t.deepEqual(await check(ns, nets), []);

  // A chain of a network deleted outright (its map entries first, or nft refuses).
  await must('ip', ['netns', 'exec', ns, NFT, '-f', '-'], [
    'delete element inet volt forward_from { "volt-beta" }',
    'flush chain inet volt net-beta-out',
    'delete chain inet volt net-beta-out',
    '',
  ].join('\n'));
  t.deepEqual(await check(ns, nets), [
    'network "beta": chain "net-beta-out" is missing',
    'network "beta": map forward_from has no entry "volt-beta" : jump net-beta-out',
  ]);

  await inNs(ns, NFT, 'delete', 'table', 'inet', 'volt');
  t.deepEqual(await check(ns, nets), ['nftables table inet volt is missing: the firewall is not set up']);
});

test('setupBase repairs a base chain whose hook was changed by hand', async (t) => {
  const ns = await netns(t);
  const nets = [net('alpha', 71, true)];
  await ok(ns, setupAll(nets));
  await must('ip', ['netns', 'exec', ns, NFT, '-f', '-'], [
    'flush chain inet volt volt-input',
    'delete chain inet volt volt-input',
    'add chain inet volt volt-input { type filter hook input priority 5; policy drop; }',
    '',
  ].join('\n'));
  const drift = await check(ns, nets);
  t.true(drift.includes('base chain "volt-input" is type filter hook input priority 5 policy drop, expected type filter hook input priority 0 policy accept'), drift.join('\n'));
  await ok(ns, [{ method: 'setupBase', args: [POLICY] }]);
  t.deepEqual(await check(ns, nets), []);
});

test('an nft failure is a DriverError and leaves the previous ruleset intact', async (t) => {
  const ns = await netns(t);
  await ok(ns, setupAll([net('alpha', 70, true)]));
  const before = await listTable(ns);

  // 10.70.0.0/16 overlaps alpha's 10.70.0.0/24 in nat_subnets: nft rejects the
  // transaction after the chains and elements before it were already queued.
  const [overlap] = await driver(ns, [{ method: 'setupNetwork', args: [{ ...net('gamma', 70, true, 16), gateway: '10.70.9.1' }] }]);
  t.false(overlap?.ok);
  if (overlap && !overlap.ok) {
    t.is(overlap.error.name, 'DriverError');
    t.is(overlap.error.code, 'E_KERNEL');
    t.regex(overlap.error.message, /^set up firewall for network "gamma": interval overlaps with an existing one \(add element inet volt nat_subnets \{ 10\.70\.0\.0\/16 \}\)$/);
  }
  t.deepEqual(await listTable(ns), before, 'handles included: nothing changed');

  // Bad input never reaches nft.
  const [bad] = await driver(ns, [{ method: 'setupNetwork', args: [{ ...net('delta', 74, true), bridge: 'x" accept' }] }]);
  t.like(bad, { ok: false, error: { name: 'UserInputError', code: 'E_FIREWALL_INPUT' } });
  t.deepEqual(await listTable(ns), before);
});

// ---------------------------------------------------------------------------
// Real traffic: a host namespace with three networks, a workload on each, and
// an "outside" namespace on the host's uplink.
//
//   cA (10.81.0.2) -- volt-a (NAT)     --+
//   cA2 (10.81.0.3) -/                   |
//   cB (10.82.0.2) -- volt-b (NAT)     --+-- H -- up0 192.0.2.1 ---- 192.0.2.2 O
//   cC (10.83.0.2) -- volt-c (--no-nat) -+
//
// O routes 10.82/16 and 10.83/16 back to H but not 10.81: a reply to cA comes
// back only if H masqueraded it. Without the firewall everything below works.

async function ping(ns: string, to: string, attempts = 1): Promise<boolean> {
  const r = await runCommand('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-c', String(attempts), '-i', '0.2', '-W', '1', to]);
  return r.code === 0;
}

/** Connect over TCP; resolves what the server sent, or undefined if the connection failed. */
async function tcp(ns: string, host: string, port: number, localAddress?: string): Promise<string | undefined> {
  const script = `
    const s = require('net').connect({ host: ${JSON.stringify(host)}, port: ${port}${localAddress ? `, localAddress: ${JSON.stringify(localAddress)}` : ''} });
    let data = '';
    const t = setTimeout(() => process.exit(1), 1500);
    s.on('data', (d) => (data += d));
    s.on('end', () => { clearTimeout(t); process.stdout.write('ok:' + data); process.exit(0); });
    s.on('error', () => process.exit(1));`;
  const r = await runCommand('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { timeoutMs: 10_000 });
  return r.code === 0 && r.stdout.startsWith('ok:') ? r.stdout.slice(3) : undefined;
}

/** A TCP server in a namespace that answers each connection with the peer's address. */
async function serve(t: ExecutionContext, ns: string, ports: number[]): Promise<void> {
  const script = `
    const net = require('net');
    let n = 0;
    for (const p of ${JSON.stringify(ports)}) {
      net.createServer((s) => s.end(s.remoteAddress)).listen(p, '0.0.0.0', () => { if (++n === ${ports.length}) console.log('ready'); });
    }`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server in ${ns} did not start`)), 10_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`server in ${ns} exited with ${String(code)}`)));
  });
}

async function workload(t: ExecutionContext, host: string, bridge: string, ifname: string, address: string, gateway: string): Promise<string> {
  const ns = await netns(t, `-${ifname}`);
  await must('ip', ['-n', host, 'link', 'add', ifname, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await must('ip', ['-n', host, 'link', 'set', ifname, 'master', bridge, 'up']);
  await must('ip', ['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
  await must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  await must('ip', ['-n', ns, 'route', 'add', 'default', 'via', gateway]);
  return ns;
}

test('traffic: isolation between networks, masquerade out, no outbound for --no-nat, host policy', async (t) => {
  const h = await netns(t, '-h');
  const a = net('a', 81, true);
  const b = net('b', 82, true);
  const c = net('c', 83, false);
  for (const n of [a, b, c]) {
    await must('ip', ['-n', h, 'link', 'add', n.bridge, 'type', 'bridge']);
    await must('ip', ['-n', h, 'addr', 'add', `${n.gateway}/24`, 'dev', n.bridge]);
    await must('ip', ['-n', h, 'link', 'set', n.bridge, 'up']);
  }
  await inNs(h, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
  const cA = await workload(t, h, a.bridge, 'va', '10.81.0.2', a.gateway);
  const cA2 = await workload(t, h, a.bridge, 'va2', '10.81.0.3', a.gateway);
  const cB = await workload(t, h, b.bridge, 'vb', '10.82.0.2', b.gateway);
  const cC = await workload(t, h, c.bridge, 'vc', '10.83.0.2', c.gateway);
  const o = await netns(t, '-o');
  await must('ip', ['-n', h, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', o]);
  await must('ip', ['-n', h, 'addr', 'add', '192.0.2.1/24', 'dev', 'up0']);
  await must('ip', ['-n', h, 'link', 'set', 'up0', 'up']);
  await must('ip', ['-n', o, 'addr', 'add', '192.0.2.2/24', 'dev', 'eth0']);
  await must('ip', ['-n', o, 'link', 'set', 'eth0', 'up']);
  await must('ip', ['-n', o, 'route', 'add', '10.82.0.0/16', 'via', '192.0.2.1']);
  await must('ip', ['-n', o, 'route', 'add', '10.83.0.0/16', 'via', '192.0.2.1']);
  await serve(t, o, [7000]);
  await serve(t, h, [22, 53, 8080]);

  // Controls, before any firewall: the topology works, and cA's replies do not return.
  t.true(await ping(cA, '10.81.0.3', 3), 'control: same network');
  t.true(await ping(cA, '10.82.0.2', 3), 'control: cross network');
  t.true(await ping(cC, '192.0.2.2', 3), 'control: no-nat network reaches outside');
  t.true(await ping(cA, '10.82.0.1', 3), 'control: another network\'s gateway');
  t.true(await ping(o, '10.82.0.2', 3), 'control: outside into a network');
  t.is(await tcp(cA, '10.81.0.1', 8080), '10.81.0.2', 'control: workload to host port');
  t.is(await tcp(o, '192.0.2.1', 8080), '192.0.2.2', 'control: outside to host port');
  t.false(await ping(cA, '192.0.2.2'), 'control: no route back to 10.81 without masquerade');

  await ok(h, setupAll([a, b, c]));
  t.deepEqual(await check(h, [a, b, c]), []);

  // The host talking to its own addresses (over lo) keeps its source: masquerade is for leaving the host.
  t.is(await tcp(h, '10.81.0.1', 8080, '10.82.0.1'), '10.82.0.1', 'host → own gateway address, not masqueraded');

  // Same network: allowed (bridged; br_netfilter may or may not show it to inet forward).
  t.true(await ping(cA, '10.81.0.3', 3), 'same network');
  t.true(await ping(cA2, '10.81.0.2', 3), 'same network, other direction');
  // Different networks: denied both ways.
  t.false(await ping(cA, '10.82.0.2'), 'a -> b dropped');
  t.false(await ping(cB, '10.81.0.2'), 'b -> a dropped');
  t.false(await ping(cC, '10.81.0.2'), 'c -> a dropped');
  // Outbound with NAT: masqueraded to the uplink address, replies come back.
  t.true(await ping(cA, '192.0.2.2', 3), 'a reaches outside');
  t.is(await tcp(cA, '192.0.2.2', 7000), '192.0.2.1', 'outside sees the host address');
  t.is(await tcp(cB, '192.0.2.2', 7000), '192.0.2.1');
  // --no-nat: no outbound at all, although a route back exists.
  t.false(await ping(cC, '192.0.2.2'), 'no-nat network has no outbound');
  t.is(await tcp(cC, '192.0.2.2', 7000), undefined);
  // New connections from outside into a network: dropped.
  t.false(await ping(o, '10.82.0.2'), 'outside -> network dropped');
  // Workloads to the host: ICMP to their own gateway and DNS only.
  t.true(await ping(cA, '10.81.0.1', 3), 'ping own gateway');
  t.true(await ping(cC, '10.83.0.1', 3), 'no-nat network pings its gateway');
  t.false(await ping(cA, '10.82.0.1'), 'another network\'s gateway is the host: dropped');
  t.false(await ping(cA, '192.0.2.1'), 'host uplink address: dropped');
  t.is(await tcp(cA, '10.81.0.1', 53), '10.81.0.2', 'DNS over TCP to the gateway');
  t.is(await tcp(cA, '10.81.0.1', 8080), undefined, 'other host ports closed to workloads');
  t.is(await tcp(cA, '10.81.0.1', 22), undefined, 'the host allow list is not for workloads');
  // Host policy drop + allow tcp/22, from outside.
  t.is(await tcp(o, '192.0.2.1', 22), '192.0.2.2', 'allowed host port');
  t.is(await tcp(o, '192.0.2.1', 8080), undefined, 'other host ports dropped');
  t.false(await ping(o, '192.0.2.1'), 'ping to host dropped by policy');
  // The host itself still reaches out (established replies accepted).
  t.is(await tcp(h, '192.0.2.2', 7000), '192.0.2.1', 'host outbound unaffected');

  // Teardown of one network reopens nothing for the others and removes its masquerade.
  await ok(h, [{ method: 'teardownNetwork', args: [b] }]);
  t.is(await tcp(cA, '192.0.2.2', 7000), '192.0.2.1', 'a still masqueraded');
  // O routes 10.82/16 back, so b's traffic now leaves unmasqueraded: volt no longer treats it.
  t.is(await tcp(cB, '192.0.2.2', 7000), '10.82.0.2', 'b no longer masqueraded');
  // A bridge volt does not manage is ordinary host traffic, under the host policy.
  t.false(await ping(cB, '10.82.0.1'), 'host policy applies to an unmanaged bridge');
});

// Serial: ava runs it before the other tests of the file, so its load does not slow their bounded waits.
test.serial('the conformance kit passes NftablesFirewall (firewall suite, @volt/sdk/testing, a namespace of its own)', async (t) => {
  const { runConformance } = await import('@volt/sdk/testing');
  const { builtinHooks } = await import('./driver-hooks');
  const r = await runConformance({ kind: 'firewall', driver: { name: 'nftables', hook: builtinHooks() } });
  t.deepEqual(r.cases.filter((c) => c.status !== 'pass').map((c) => `${c.name}: ${c.reason ?? ''}`), []);
  t.true(r.ok);
  t.is(r.passed, 9);
});
