/**
 * NetworkdBridge against a real systemd-networkd (Debian 12: systemd 252) in a
 * sandbox host (test/harness). The driver runs inside the sandbox through
 * bridge-driver-runner.js with VOLT_ROOT = the sandbox's root, whose
 * etc/systemd/network is what networkd reads.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BridgeSpec } from '@volt/sdk';
import { renderBridgeUnits } from '@volt/plugin-networkd/dist/index';
import { SandboxHost, formatResult } from '../harness';
import type { RunnerOutcome, RunnerRequest } from './bridge-driver-runner';

const RUNNER = path.join(__dirname, 'bridge-driver-runner.js');

function spec(over: Partial<BridgeSpec> = {}): BridgeSpec {
  return { network: 'web', ifname: 'volt-web', address: '10.40.0.1/24', mtu: 1450, mac: '02:00:5e:20:00:01', ...over };
}

async function sandbox(t: ExecutionContext, networkd = true): Promise<SandboxHost> {
  return SandboxHost.create(t, { networkd, uplink: false });
}

async function run(
  host: SandboxHost,
  op: RunnerRequest['op'],
  s: BridgeSpec,
  options?: RunnerRequest['options'],
): Promise<RunnerOutcome> {
  const request: RunnerRequest = { driver: 'networkd', op, spec: s, options };
  const r = await host.exec(process.execPath, [RUNNER, JSON.stringify(request)]);
  if (r.code !== 0) throw new Error(`runner failed\n${formatResult(r)}`);
  return JSON.parse(r.stdout) as RunnerOutcome;
}

async function setupOk(t: ExecutionContext, host: SandboxHost, s: BridgeSpec = spec()): Promise<RunnerOutcome> {
  const out = await run(host, 'setup', s);
  t.true(out.ok, `${JSON.stringify(out.error)}\n--- networkd log ---\n${host.networkdLog(30)}`);
  return out;
}

/** Programs that change something: everything but the reads the driver makes. */
function changes(outcome: RunnerOutcome): string[] {
  const reads = (c: { cmd: string; args: string[] }): boolean =>
    (c.cmd === 'ip' && c.args[0] === '-j') ||
    (c.cmd === 'networkctl' && (c.args[0] === '--version' || c.args[0] === 'status')) ||
    c.cmd === 'busctl';
  return outcome.commands.filter((c) => !reads(c)).map((c) => [c.cmd, ...c.args].join(' '));
}

interface KernelLink {
  ifname: string;
  flags: string[];
  mtu: number;
  address: string;
  linkinfo?: { info_kind?: string; info_data?: { stp_state?: number; forward_delay?: number } };
  addr_info: { family: string; local: string; prefixlen: number; scope: string }[];
}

async function link(host: SandboxHost, ifname: string): Promise<KernelLink | undefined> {
  const links = await host.ipJson<KernelLink[]>(['-d', 'addr', 'show']);
  return links.find((l) => l.ifname === ifname);
}

async function networkdState(host: SandboxHost, ifname: string): Promise<string | undefined> {
  const r = await host.exec('networkctl', ['status', ifname, '--json=short']);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as { AdministrativeState?: string }).AdministrativeState;
}

async function sysctl(host: SandboxHost, key: string): Promise<string> {
  return (await host.execOk('cat', [`/proc/sys/${key.replace(/\./g, '/')}`])).stdout.trim();
}

function unitDir(host: SandboxHost): string {
  return path.join(host.root, 'etc/systemd/network');
}

function assertBridge(t: ExecutionContext, br: KernelLink | undefined, s: BridgeSpec): void {
  if (!br) {
    t.fail(`bridge ${s.ifname} missing`);
    return;
  }
  t.is(br.linkinfo?.info_kind, 'bridge');
  t.is(br.mtu, s.mtu);
  t.is(br.address, s.mac);
  t.true(br.flags.includes('UP'));
  t.is(br.linkinfo?.info_data?.stp_state, 0);
  t.is(br.linkinfo?.info_data?.forward_delay, 0);
  t.deepEqual(
    br.addr_info.map((a) => `${a.family} ${a.local}/${a.prefixlen} ${a.scope}`),
    [`inet ${s.address} global`],
    'the gateway address and no IPv6 link-local',
  );
}

test('available: networkd answers on D-Bus; without it, "networkd not running"', async (t) => {
  const [withNetworkd, plain] = await Promise.all([sandbox(t), sandbox(t, false)]);
  t.deepEqual((await run(withNetworkd, 'available', spec())).result, { ok: true, reason: 'networkd answers on D-Bus' });
  t.deepEqual((await run(plain, 'available', spec())).result, { ok: false, reason: 'networkd not running' });
});

test('setup writes both units and networkd configures the bridge', async (t) => {
  const host = await sandbox(t);
  const ipv6ForwardingBefore = await sysctl(host, 'net.ipv6.conf.all.forwarding');
  const out = await setupOk(t, host);
  t.deepEqual(changes(out), ['networkctl reload', 'ip link set dev volt-web alias volt:web']);

  const expected = renderBridgeUnits(spec(), { systemdVersion: 252 });
  const dir = unitDir(host);
  t.deepEqual(fs.readdirSync(dir).sort(), ['10-volt-volt-web.netdev', '10-volt-volt-web.network']);
  t.is(fs.readFileSync(path.join(dir, '10-volt-volt-web.netdev'), 'utf8'), expected.netdev.content);
  t.is(fs.readFileSync(path.join(dir, '10-volt-volt-web.network'), 'utf8'), expected.network.content);
  t.regex(expected.network.content, /^# Managed by volt — network "web"\. Changes are overwritten\.\n/);
  t.regex(expected.network.content, /\nAddress=10\.40\.0\.1\/24\n/);

  assertBridge(t, await link(host, 'volt-web'), spec());
  t.is(await networkdState(host, 'volt-web'), 'configured');
  t.is(await sysctl(host, 'net.ipv6.conf.volt-web.addr_gen_mode'), '1');
  t.is(await sysctl(host, 'net.ipv4.ip_forward'), '1');
  // IPForward=ipv4, not yes: IPv6 forwarding (and with it RA handling on the uplink) is left alone.
  t.is(await sysctl(host, 'net.ipv6.conf.all.forwarding'), ipv6ForwardingBefore);
});

test('a second setup changes nothing: no write, no reload', async (t) => {
  const host = await sandbox(t);
  await setupOk(t, host);
  const dir = unitDir(host);
  const stat = (f: string): string => {
    const s = fs.statSync(path.join(dir, f));
    return `${s.ino} ${s.mtimeMs}`;
  };
  const before = [stat('10-volt-volt-web.netdev'), stat('10-volt-volt-web.network')];
  const again = await setupOk(t, host);
  t.deepEqual(changes(again), []);
  t.deepEqual([stat('10-volt-volt-web.netdev'), stat('10-volt-volt-web.network')], before);
  assertBridge(t, await link(host, 'volt-web'), spec());
});

test('setup repairs kernel drift with unchanged units (reconfigure, or reload for a deleted link)', async (t) => {
  const host = await sandbox(t);
  await setupOk(t, host);

  await host.execOk('ip', ['addr', 'flush', 'dev', 'volt-web']);
  await host.execOk('ip', ['link', 'set', 'dev', 'volt-web', 'down']);
  const repaired = await setupOk(t, host);
  t.deepEqual(changes(repaired), ['networkctl reconfigure volt-web', 'ip link set dev volt-web alias volt:web']);
  assertBridge(t, await link(host, 'volt-web'), spec());

  await host.execOk('ip', ['link', 'del', 'dev', 'volt-web']);
  const recreated = await setupOk(t, host);
  t.deepEqual(changes(recreated), ['networkctl reload', 'ip link set dev volt-web alias volt:web']);
  assertBridge(t, await link(host, 'volt-web'), spec());
  t.is(await networkdState(host, 'volt-web'), 'configured');
});

test('a changed spec converges on the live bridge (networkd 252 applies .netdev changes only on creation)', async (t) => {
  const host = await sandbox(t);
  await setupOk(t, host);
  const ifindex = (await host.ipJson<{ ifindex: number }[]>(['link', 'show', 'dev', 'volt-web']))[0]?.ifindex;
  const next = spec({ address: '10.41.0.1/24', mtu: 1400, mac: '02:00:5e:20:00:09' });
  const out = await setupOk(t, host, next);
  t.deepEqual(changes(out), ['networkctl reload', 'ip link set dev volt-web alias volt:web']);
  assertBridge(t, await link(host, 'volt-web'), next);
  const after = (await host.ipJson<{ ifindex: number }[]>(['link', 'show', 'dev', 'volt-web']))[0]?.ifindex;
  t.is(after, ifindex, 'the same link, changed in place');
});

test('the MTU stays when a port with another MTU joins', async (t) => {
  const host = await sandbox(t);
  await setupOk(t, host);
  await host.execOk('ip', ['link', 'add', 'vt-port0', 'type', 'veth', 'peer', 'name', 'vt-peer0']);
  await host.execOk('ip', ['link', 'set', 'dev', 'vt-port0', 'master', 'volt-web']);
  const inspected = await run(host, 'inspect', spec());
  t.deepEqual(inspected.result, {
    ifname: 'volt-web',
    exists: true,
    kind: 'bridge',
    up: true,
    mtu: 1450,
    mac: '02:00:5e:20:00:01',
    addresses: ['10.40.0.1/24'],
    ports: ['vt-port0'],
  });
});

test('teardown removes the units and the link; a second teardown is fine', async (t) => {
  const host = await sandbox(t);
  await setupOk(t, host);
  const down = await run(host, 'teardown', spec());
  t.true(down.ok, JSON.stringify(down.error));
  t.deepEqual(fs.readdirSync(unitDir(host)), []);
  t.is(await link(host, 'volt-web'), undefined);
  t.deepEqual(changes(down).slice(0, 2), ['networkctl reload', 'networkctl delete volt-web']);

  // networkd must not bring it back on the next reload.
  await host.execOk('networkctl', ['reload']);
  await new Promise((r) => setTimeout(r, 300));
  t.is(await link(host, 'volt-web'), undefined);

  const again = await run(host, 'teardown', spec());
  t.true(again.ok, JSON.stringify(again.error));
  t.deepEqual(changes(again), []);
});

test('a non-bridge link with the same name: clear error, no unit written', async (t) => {
  const host = await sandbox(t);
  await host.execOk('ip', ['link', 'add', 'volt-web', 'type', 'veth', 'peer', 'name', 'vt-other']);
  const out = await run(host, 'setup', spec());
  t.false(out.ok);
  t.is(out.error?.code, 'E_BRIDGE_NAME_TAKEN');
  t.is(out.error?.message, 'set up bridge "volt-web" for network "web": interface volt-web exists and is a veth link, not a bridge');
  t.deepEqual(changes(out), []);
  t.deepEqual(fs.readdirSync(unitDir(host)), []);
  t.is((await link(host, 'volt-web'))?.linkinfo?.info_kind, 'veth');
});

test('networkd that does not configure the bridge: a timeout naming the units and the link state', async (t) => {
  const host = await sandbox(t);
  // An admin's unit that sorts first and keeps networkd's hands off the link.
  fs.writeFileSync(path.join(unitDir(host), '05-hands-off.network'), '[Match]\nName=volt-web\n\n[Link]\nUnmanaged=yes\n');
  // The driver gives up at its bound and says so (a hang would hit the test's own timeout).
  const out = await run(host, 'setup', spec(), { timeoutMs: 1500 });
  t.false(out.ok);
  t.is(out.error?.name, 'DriverError');
  t.is(out.error?.code, 'E_NETWORKD_TIMEOUT');
  const message = out.error?.message ?? '';
  const dir = unitDir(host);
  t.true(message.startsWith('set up bridge "volt-web" for network "web": systemd-networkd did not configure it within 1.5 s: '), message);
  t.true(message.includes('no address (wants 10.40.0.1/24)'), message);
  t.true(message.includes('networkd says "unmanaged"'), message);
  t.true(message.includes(path.join(dir, '10-volt-volt-web.netdev')), message);
  t.true(message.includes(path.join(dir, '10-volt-volt-web.network')), message);
  t.deepEqual(out.error?.suggestions?.slice(0, 2), ['networkctl status volt-web', 'journalctl -u systemd-networkd']);

  // Tear-down still cleans everything it made.
  t.true((await run(host, 'teardown', spec())).ok);
  t.deepEqual(fs.readdirSync(dir), ['05-hands-off.network']);
  t.is(await link(host, 'volt-web'), undefined);
});

// Serial: ava runs it before the other tests of the file, so its load does not slow their bounded waits.
test.serial('the conformance kit passes NetworkdBridge in the namespace networkd runs in (bridge suite, sandbox current)', async (t) => {
  const host = await sandbox(t);
  const r = await host.exec(process.execPath, [path.join(__dirname, 'kit-runner.js'), 'bridge', 'networkd', 'current'], { timeoutMs: 240_000 });
  if (r.code !== 0) return t.fail(`kit-runner failed\n${formatResult(r)}`);
  const result = JSON.parse(r.stdout) as { ok: boolean; passed: number; cases: { name: string; status: string; reason?: string }[] };
  t.deepEqual(result.cases.filter((c) => c.status === 'fail').map((c) => `${c.name}: ${c.reason ?? ''}`), [], host.networkdLog(30));
  // A Linux bridge switches through netfilter: the switched-policies case is skipped, and only it.
  t.deepEqual(result.cases.filter((c) => c.status === 'skip').map((c) => c.name.split(' ')[0]), ['switched-policies']);
  t.true(result.ok);
  t.is(result.passed, 9);
  t.deepEqual(fs.readdirSync(unitDir(host)), [], 'no unit of the kit\'s bridge is left');
});
