/**
 * The conformance kit through `volt driver test` (issue 12 item 3) and the VM NIC side
 * contracts selected through the registry (item 4). Each run happens inside a sandbox host;
 * the kit makes (and deletes) a namespace of its own there, or with --sandbox current uses
 * the sandbox host itself (networkd runs there).
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxHost, REPO_ROOT } from '../harness';

interface KitCase {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  reason?: string;
}
interface KitResult {
  kind: string;
  driver: string;
  sandbox: string;
  ok: boolean;
  passed: number;
  failed: number;
  skipped: number;
  cases: KitCase[];
}
interface DriverJson {
  interface: string;
  active: string | null;
  why: string;
  drivers: { name: string; available: boolean; active: boolean }[];
}

const KIT_TIMEOUT = 240_000;

async function kit(host: SandboxHost, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; result: KitResult; stderr: string }> {
  const r = await host.volt(['driver', 'test', ...args, '-o', 'json'], { env, timeoutMs: KIT_TIMEOUT });
  let result: KitResult;
  try {
    result = JSON.parse(r.stdout) as KitResult;
  } catch {
    throw new Error(`volt driver test ${args.join(' ')} printed no JSON (exit ${r.code})\n${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, result, stderr: r.stderr };
}

const failures = (r: KitResult): string[] => r.cases.filter((c) => c.status === 'fail').map((c) => `${c.name}: ${c.reason ?? ''}`);

/** The links of the sandbox host, which the kit (in a namespace of its own) must not touch. */
async function hostLinks(host: SandboxHost): Promise<string[]> {
  return (await host.ipJson<{ ifname: string }[]>(['link', 'show'])).map((l) => l.ifname).sort();
}

async function kitNamespaces(host: SandboxHost): Promise<string[]> {
  return (await host.execOk('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith('volt-kit-'));
}

test.serial('the built-in drivers pass the kit: bridge direct, firewall nftables, vm-nic direct-tap, dns dns2, guest-dhcp dnsmasq', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const before = await hostLinks(host);
  // Skipped: bridge direct has no switched-policies capability (netfilter sees its bridges).
  const expected: [string, string, number, number][] = [
    ['bridge', 'direct', 9, 1],
    ['firewall', 'nftables', 9, 0],
    ['vm-nic', 'direct-tap', 9, 0],
    ['dns', 'dns2', 4, 0],
    ['guest-dhcp', 'dnsmasq', 4, 0],
  ];
  for (const [kind, name, cases, skipped] of expected) {
    const { code, result, stderr } = await kit(host, [kind, name]);
    t.deepEqual(failures(result), [], `${kind} ${name}\n${stderr}`);
    t.is(code, 0, `${kind} ${name}: exit ${code}\n${stderr}`);
    t.like(result, { kind, driver: name, sandbox: 'fresh', ok: true, failed: 0, skipped });
    t.is(result.passed, cases, `${kind} ${name}: ${result.cases.map((c) => c.name).join(' | ')}`);
  }
  // The table form: one line per case and the summary.
  const table = await host.volt(['driver', 'test', 'bridge', 'direct'], { timeoutMs: KIT_TIMEOUT });
  t.is(table.code, 0, table.stderr);
  const lines = table.stdout.trim().split('\n');
  t.is(lines.length, 11);
  t.is(lines.slice(0, 10).filter((l) => l.startsWith('✓ ')).length, 9, table.stdout);
  t.regex(lines.slice(0, 10).find((l) => l.startsWith('- ')) ?? '', /^- switched-policies \(capability\): .*: the driver has no switched-policies capability/);
  t.is(lines[10], 'bridge direct: 9 passed, 0 failed, 1 skipped');
  // The kit worked in namespaces of its own and removed them; the sandbox host is as it was.
  t.deepEqual(await kitNamespaces(host), []);
  t.deepEqual(await hostLinks(host), before);
});

test.serial('networkd drivers pass the kit in the namespace networkd runs in (--sandbox current)', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false, networkd: true });
  const { code, result, stderr } = await kit(host, ['bridge', 'networkd', '--sandbox', 'current']);
  t.deepEqual(failures(result), [], `${stderr}\n--- networkd ---\n${host.networkdLog(40)}`);
  t.is(code, 0);
  t.like(result, { kind: 'bridge', driver: 'networkd', sandbox: 'current', ok: true, passed: 9 });
  // No unit of the kit's bridge is left for networkd to bring back.
  t.deepEqual(fs.readdirSync(path.join(host.root, 'etc/systemd/network')), []);

});

test.serial('a deliberately broken bridge driver fails the kit, each case with its reason', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'vt-oclif-'));
  t.teardown(() => fs.rmSync(data, { recursive: true, force: true }));
  const env = { VOLT_DATA_DIR: path.join(data, 'data'), VOLT_CACHE_DIR: path.join(data, 'cache'), VOLT_CONFIG_DIR: path.join(data, 'config') };
  await host.voltOk(['plugins', 'link', path.join(REPO_ROOT, 'examples/bridge-broken'), '--no-install'], { env });
  const before = await hostLinks(host);

  const { code, result } = await kit(host, ['bridge', 'broken'], env);
  t.is(code, 1);
  t.like(result, { kind: 'bridge', driver: 'broken', ok: false });
  const byName = new Map(result.cases.map((c) => [c.name, c]));
  const failed = (name: string, reason: RegExp): void => {
    const c = byName.get(name);
    t.is(c?.status, 'fail', name);
    t.regex(c?.reason ?? '', reason, name);
  };
  t.is(byName.get('set-up makes the bridge the spec describes, and inspect agrees')?.status, 'pass');
  // Set-up not idempotent.
  failed('set-up twice in a row is the same kernel state', /^second setupBridge failed: E_KERNEL: .*File exists/);
  failed('drift: inspect reports a bridge changed behind the driver, set-up repairs it', /^setupBridge over the drift failed: .*File exists/);
  // Tear-down leaves the uplink veth behind.
  failed('tear-down leaves the sandbox as it was before set-up', /^left behind after tear-down: \+ link kit-br0-up veth /);
  // No rollback: a failed step leaves the bridge.
  failed('bad input is refused with a VoltError and the kernel is unchanged', /^setupBridge with a MAC that is not one changed the kernel: \+ link kit-br0 bridge /);
  failed('a failure mid-way (an address the kernel refuses) rolls back: nothing half-made remains', /^left behind by the failed set-up: \+ link kit-br0 bridge /);
  t.is(result.failed, 7);

  const table = await host.volt(['driver', 'test', 'bridge', 'broken'], { env, timeoutMs: KIT_TIMEOUT });
  t.is(table.code, 1);
  t.regex(table.stdout, /^✗ tear-down leaves the sandbox as it was before set-up: left behind after tear-down: \+ link kit-br0-up veth/m);
  t.regex(table.stdout, /\nbridge broken: 2 passed, 7 failed, 1 skipped — does not conform\n$/);
  t.deepEqual(await kitNamespaces(host), []);
  t.deepEqual(await hostLinks(host), before, 'the leftovers were in the kit\'s namespace, not the host');
});

test.serial('unknown interface or driver: a clear error, exit 2, no namespace made', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const kind = await host.volt(['driver', 'test', 'bridges', 'direct']);
  t.is(kind.code, 2);
  t.regex(kind.stderr, /"bridges" is not a driver interface; the kit has suites for: bridge, firewall, dns, vm-nic, guest-dhcp/);
  const noSuite = await host.volt(['driver', 'test', 'ingress', 'node']);
  t.is(noSuite.code, 2);
  t.regex(noSuite.stderr, /no behaviour suite for ingress/);
  const name = await host.volt(['driver', 'test', 'bridge', 'ovs']);
  t.is(name.code, 2);
  t.regex(name.stderr, /no installed plugin provides a bridge driver named "ovs"; installed: networkd, direct/);
  t.deepEqual(await kitNamespaces(host), []);
});

test.serial('vm-nic-accel and guest-dhcp are selected by the registry, pinned by drivers:, shown by driver list', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false, networkd: true, config: 'drivers:\n  bridge: networkd\n' });
  const list = async (): Promise<Map<string, DriverJson>> => new Map((await host.voltJson<DriverJson[]>(['driver', 'list', '-o', 'json'])).map((d) => [d.interface, d]));
  const config = path.join(host.root, 'etc/volt/config.yaml');

  let l = await list();
  t.is(l.get('guest-dhcp')?.active, 'networkd-dhcp');
  t.regex(l.get('guest-dhcp')?.why ?? '', /^detected: /);
  t.deepEqual(l.get('guest-dhcp')?.drivers.map((d) => d.name), ['networkd-dhcp', 'dnsmasq']);
  t.deepEqual(l.get('vm-nic-accel')?.drivers.map((d) => d.name), ['vhost-net']);
  const vhostUp = l.get('vm-nic-accel')?.drivers[0]?.available === true;

  fs.writeFileSync(config, 'drivers:\n  bridge: networkd\n  guest-dhcp: dnsmasq\n  vm-nic-accel: vhost-net\n');
  l = await list();
  t.is(l.get('guest-dhcp')?.active, 'dnsmasq');
  t.is(l.get('guest-dhcp')?.why, 'configured (drivers.guest-dhcp)');
  if (vhostUp) t.is(l.get('vm-nic-accel')?.why, 'configured (drivers.vm-nic-accel)');
  else {
    t.is(l.get('vm-nic-accel')?.active, null);
    t.regex(l.get('vm-nic-accel')?.why ?? '', /^configured vhost-net, but /);
  }

  // A DHCP service made for another bridge driver is not taken when pinned: it says why.
  fs.writeFileSync(config, 'drivers:\n  bridge: direct\n  guest-dhcp: networkd-dhcp\n');
  l = await list();
  t.is(l.get('guest-dhcp')?.active, null);
  t.is(l.get('guest-dhcp')?.why, 'configured networkd-dhcp, but goes with the networkd bridge driver, and the active one is direct');

  // An unknown name is the usual error, listing the valid ones.
  fs.writeFileSync(config, 'drivers:\n  vm-nic-accel: vhost-user\n');
  const bad = await host.volt(['driver', 'list']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /drivers\.vm-nic-accel is "vhost-user", which no installed plugin provides; valid: vhost-net/);
});
