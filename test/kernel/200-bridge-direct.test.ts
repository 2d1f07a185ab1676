/**
 * DirectBridge against a real kernel. Each test makes its own network
 * namespace and runs the driver inside it (bridge-driver-runner.js under
 * `ip netns exec`); assertions read the kernel with `ip -j -d` in that namespace.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { BridgeSpec } from '@volt/sdk';
import type { RunnerOutcome, RunnerRequest } from './bridge-driver-runner';

const exec = promisify(execFile);
const RUNNER = path.join(__dirname, 'bridge-driver-runner.js');

let counter = 0;

/** A fresh namespace for one test, deleted when the test ends (also on failure). */
async function netns(t: ExecutionContext): Promise<string> {
  const name = `vt-br-${process.pid}-${counter++}`;
  await exec('ip', ['netns', 'add', name]);
  t.teardown(async () => {
    await exec('ip', ['netns', 'del', name]).catch(() => undefined);
  });
  return name;
}

async function inNs(ns: string, cmd: string, args: string[]): Promise<string> {
  const { stdout } = await exec('ip', ['netns', 'exec', ns, cmd, ...args]);
  return stdout;
}

async function run(ns: string, op: RunnerRequest['op'], spec: BridgeSpec): Promise<RunnerOutcome> {
  const request: RunnerRequest = { driver: 'direct', op, spec };
  const out = await inNs(ns, process.execPath, [RUNNER, JSON.stringify(request)]);
  return JSON.parse(out) as RunnerOutcome;
}

interface AddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope: string;
}
interface KernelLink {
  ifname: string;
  flags: string[];
  mtu: number;
  address: string;
  linkinfo?: { info_kind?: string; info_data?: { stp_state?: number; forward_delay?: number } };
  addr_info: AddrInfo[];
}

async function links(ns: string): Promise<KernelLink[]> {
  return JSON.parse(await inNs(ns, 'ip', ['-j', '-d', 'addr', 'show'])) as KernelLink[];
}

async function link(ns: string, ifname: string): Promise<KernelLink | undefined> {
  return (await links(ns)).find((l) => l.ifname === ifname);
}

/** What a driver may change, without the counters and timers that move on their own. */
function shape(l: KernelLink | undefined): unknown {
  if (!l) return undefined;
  return {
    ifname: l.ifname,
    kind: l.linkinfo?.info_kind,
    flags: l.flags,
    mtu: l.mtu,
    address: l.address,
    stp: l.linkinfo?.info_data?.stp_state,
    forwardDelay: l.linkinfo?.info_data?.forward_delay,
    addrs: l.addr_info.map((a) => `${a.family} ${a.local}/${a.prefixlen} ${a.scope}`),
  };
}

async function shapes(ns: string): Promise<unknown[]> {
  return (await links(ns)).map(shape);
}

/** Mutating programs a driver call started (reads such as `ip -j` are fine). */
function changes(outcome: RunnerOutcome): string[] {
  return outcome.commands
    .filter((c) => !(c.cmd === 'ip' && (c.args[0] === '-j' || c.args[0] === '-V')))
    .map((c) => [c.cmd, ...c.args].join(' ') + (c.input ? `\n${c.input}` : ''));
}

function spec(over: Partial<BridgeSpec> = {}): BridgeSpec {
  return { network: 'backend', ifname: 'volt-backend', address: '10.30.0.1/24', mtu: 1450, mac: '02:00:5e:10:00:01', ...over };
}

test('available: iproute2 is present', async (t) => {
  const ns = await netns(t);
  const out = await run(ns, 'available', spec());
  t.true(out.ok);
  t.deepEqual(out.result, { ok: true, reason: 'iproute2 present' });
});

test('setup creates an up bridge with MTU, MAC, address, no STP and no IPv6 link-local, in one ip -batch', async (t) => {
  const ns = await netns(t);
  const out = await run(ns, 'setup', spec());
  t.true(out.ok, JSON.stringify(out.error));
  const batches = out.commands.filter((c) => c.cmd === 'ip' && c.args.includes('-batch'));
  t.is(batches.length, 1);
  t.deepEqual(changes(out).filter((c) => !c.startsWith('ip -batch')), []);

  const br = await link(ns, 'volt-backend');
  if (!br) return t.fail('bridge missing');
  t.is(br.linkinfo?.info_kind, 'bridge');
  t.is(br.mtu, 1450);
  t.is(br.address, '02:00:5e:10:00:01');
  t.true(br.flags.includes('UP'));
  t.is(br.linkinfo?.info_data?.stp_state, 0);
  t.is(br.linkinfo?.info_data?.forward_delay, 0);
  t.deepEqual(
    br.addr_info.map((a) => `${a.family} ${a.local}/${a.prefixlen} ${a.scope}`),
    ['inet 10.30.0.1/24 global'],
  );
  t.is((await inNs(ns, 'cat', ['/proc/sys/net/ipv6/conf/volt-backend/addr_gen_mode'])).trim(), '1');
  t.is((await inNs(ns, 'cat', ['/proc/sys/net/ipv4/ip_forward'])).trim(), '1');
});

test('a second setup issues no commands and changes nothing', async (t) => {
  const ns = await netns(t);
  t.true((await run(ns, 'setup', spec())).ok);
  const before = await shapes(ns);
  const again = await run(ns, 'setup', spec());
  t.true(again.ok, JSON.stringify(again.error));
  t.deepEqual(changes(again), []);
  t.deepEqual(await shapes(ns), before);
});

test('setup converges a drifted bridge with only the missing steps', async (t) => {
  const ns = await netns(t);
  t.true((await run(ns, 'setup', spec())).ok);
  await inNs(ns, 'ip', ['link', 'set', 'dev', 'volt-backend', 'down']);
  await inNs(ns, 'ip', ['link', 'set', 'dev', 'volt-backend', 'mtu', '1300']);
  await inNs(ns, 'ip', ['addr', 'flush', 'dev', 'volt-backend']);
  await inNs(ns, 'ip', ['link', 'set', 'dev', 'volt-backend', 'type', 'bridge', 'stp_state', '1']);

  const out = await run(ns, 'setup', spec());
  t.true(out.ok, JSON.stringify(out.error));
  const batch = out.commands.filter((c) => c.args.includes('-batch'));
  t.is(batch.length, 1);
  t.deepEqual(batch[0]?.input?.trim().split('\n'), [
    'link set dev volt-backend type bridge stp_state 0',
    // Turning STP on made the kernel raise forward_delay to its STP minimum (2 s).
    'link set dev volt-backend type bridge forward_delay 0',
    'link set dev volt-backend mtu 1450',
    'addr replace 10.30.0.1/24 dev volt-backend',
    'link set dev volt-backend up',
  ]);
  const br = await link(ns, 'volt-backend');
  t.is(br?.mtu, 1450);
  t.is(br?.linkinfo?.info_data?.stp_state, 0);
  t.true(br?.flags.includes('UP'));
  t.deepEqual(br?.addr_info.map((a) => `${a.local}/${a.prefixlen}`), ['10.30.0.1/24']);
});

test('teardown removes the bridge; a second teardown is fine', async (t) => {
  const ns = await netns(t);
  t.true((await run(ns, 'setup', spec())).ok);
  const first = await run(ns, 'teardown', spec());
  t.true(first.ok, JSON.stringify(first.error));
  t.is(await link(ns, 'volt-backend'), undefined);
  const second = await run(ns, 'teardown', spec());
  t.true(second.ok, JSON.stringify(second.error));
  t.deepEqual(changes(second), []);
});

test('inspect reports kind, state, addresses and ports; a missing bridge is exists:false', async (t) => {
  const ns = await netns(t);
  t.true((await run(ns, 'setup', spec())).ok);
  // A 1500-byte port joins a 1450-byte bridge: the bridge's MTU must stay as set.
  await inNs(ns, 'ip', ['link', 'add', 'vt-port0', 'type', 'veth', 'peer', 'name', 'vt-peer0']);
  await inNs(ns, 'ip', ['link', 'set', 'dev', 'vt-port0', 'master', 'volt-backend']);
  const out = await run(ns, 'inspect', spec());
  t.true(out.ok);
  t.deepEqual(out.result, {
    ifname: 'volt-backend',
    exists: true,
    kind: 'bridge',
    up: true,
    mtu: 1450,
    mac: '02:00:5e:10:00:01',
    addresses: ['10.30.0.1/24'],
    ports: ['vt-port0'],
  });
  const missing = await run(ns, 'inspect', spec({ ifname: 'volt-nothere' }));
  t.deepEqual(missing.result, { ifname: 'volt-nothere', exists: false, up: false, addresses: [], ports: [] });
});

test('a non-bridge link with the same name: clear error, nothing changed', async (t) => {
  const ns = await netns(t);
  await inNs(ns, 'ip', ['link', 'add', 'volt-backend', 'type', 'veth', 'peer', 'name', 'vt-other']);
  const before = await shapes(ns);
  const before4 = (await inNs(ns, 'cat', ['/proc/sys/net/ipv4/ip_forward'])).trim();

  const out = await run(ns, 'setup', spec());
  t.false(out.ok);
  t.is(out.error?.code, 'E_BRIDGE_NAME_TAKEN');
  t.is(out.error?.name, 'DriverError');
  t.is(
    out.error?.message,
    'set up bridge "volt-backend" for network "backend": interface volt-backend exists and is a veth link, not a bridge',
  );
  t.true(out.error?.suggestions?.some((s) => s.includes('ip -d link show volt-backend')));
  t.deepEqual(changes(out), []);
  t.deepEqual(await shapes(ns), before);
  t.is((await inNs(ns, 'cat', ['/proc/sys/net/ipv4/ip_forward'])).trim(), before4);

  // Tear-down leaves another program's interface alone, and says so.
  const down = await run(ns, 'teardown', spec());
  t.true(down.ok);
  t.regex(down.warnings.join('\n'), /veth link, not a bridge; left alone/);
  t.deepEqual(await shapes(ns), before);
});

test('a failing step undoes the bridge it created', async (t) => {
  const ns = await netns(t);
  // A /33 passes the driver's shape check but `ip` refuses it, after `link add` succeeded.
  const out = await run(ns, 'setup', spec({ address: '10.30.0.1/33' }));
  t.false(out.ok);
  t.is(out.error?.code, 'E_KERNEL');
  t.regex(out.error?.message ?? '', /^set up bridge "volt-backend" for network "backend": /);
  t.is(await link(ns, 'volt-backend'), undefined);
});

// Serial: ava runs it before the other tests of the file, so its load does not slow their bounded waits.
test.serial('the conformance kit passes DirectBridge (bridge suite, @volt/sdk/testing, a namespace of its own)', async (t) => {
  const { runConformance } = await import('@volt/sdk/testing');
  const { builtinHooks } = await import('./driver-hooks');
  const r = await runConformance({ kind: 'bridge', driver: { name: 'direct', hook: builtinHooks() } });
  t.deepEqual(r.cases.filter((c) => c.status === 'fail').map((c) => `${c.name}: ${c.reason ?? ''}`), []);
  // A Linux bridge switches through netfilter: the switched-policies case is skipped, and only it.
  t.deepEqual(r.cases.filter((c) => c.status === 'skip').map((c) => c.name.split(' ')[0]), ['switched-policies']);
  t.true(r.ok);
  t.is(r.passed, 9);
});
