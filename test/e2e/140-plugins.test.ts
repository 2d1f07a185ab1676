import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxHost, REPO_ROOT } from '../harness';

interface DriverJson {
  interface: string;
  active: string | null;
  why: string;
  drivers: { name: string; available: boolean; active: boolean }[];
}

test('a third-party plugin linked with `volt plugins link` joins through the hook and can replace a driver', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  // oclif keeps linked plugins under its data dir: keep it inside the test.
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'vt-oclif-'));
  t.teardown(() => fs.rmSync(data, { recursive: true, force: true }));
  const env = { VOLT_DATA_DIR: path.join(data, 'data'), VOLT_CACHE_DIR: path.join(data, 'cache'), VOLT_CONFIG_DIR: path.join(data, 'config') };
  const plugin = path.join(REPO_ROOT, 'examples/firewall-none');

  const link = await host.volt(['plugins', 'link', plugin, '--no-install'], { env });
  t.is(link.code, 0, link.stderr);
  const plugins = await host.voltOk(['plugins', '--core'], { env });
  t.regex(plugins.stdout, /volt-plugin-firewall-none/);

  // Detected alongside nftables; nftables has the higher preference.
  const before = await host.voltJson<DriverJson[]>(['driver', 'list', '-o', 'json'], { env });
  const fw = before.find((d) => d.interface === 'firewall')!;
  t.deepEqual(fw.drivers.map((d) => d.name).sort(), ['nftables', 'none']);
  t.is(fw.active, 'nftables');

  // Configured, it replaces nftables: the network works, no volt table is installed.
  fs.writeFileSync(path.join(host.root, 'etc/volt/config.yaml'), 'drivers:\n  firewall: none\n');
  const after = await host.voltJson<DriverJson[]>(['driver', 'list', '-o', 'json'], { env });
  t.is(after.find((d) => d.interface === 'firewall')!.active, 'none');
  const created = await host.volt(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24'], { env });
  t.is(created.code, 0, created.stderr);
  t.regex(created.stderr, /firewall driver "none": network "backend" wants NAT/);
  const link0 = await host.execJson<{ ifname: string }[]>('ip', ['-j', 'link', 'show', 'volt-backend']);
  t.is(link0[0]?.ifname, 'volt-backend');
  t.notRegex((await host.exec('nft', ['list', 'tables'])).stdout, /volt/);

  // Without the plugin, the configured name is an unknown driver again.
  await host.voltOk(['plugins', 'unlink', 'volt-plugin-firewall-none'], { env });
  const gone = await host.volt(['net', 'check'], { env });
  t.is(gone.code, 2);
  t.regex(gone.stderr, /drivers\.firewall is "none", which no installed plugin provides; valid: nftables/);
});

test('a plugin built for another SDK major is refused at load, naming it, its range, ours and the fix', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'vt-oclif-'));
  t.teardown(() => fs.rmSync(data, { recursive: true, force: true }));
  const env = { VOLT_DATA_DIR: path.join(data, 'data'), VOLT_CACHE_DIR: path.join(data, 'cache'), VOLT_CONFIG_DIR: path.join(data, 'config') };
  // A copy, so the test can change the range it declares.
  const plugin = path.join(data, 'sdk-major');
  fs.cpSync(path.join(REPO_ROOT, 'test/fixtures/plugins/sdk-major'), plugin, { recursive: true });
  const pkgFile = path.join(plugin, 'package.json');
  const setRange = (range: string): void => {
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { peerDependencies?: Record<string, string> };
    pkg.peerDependencies = { '@volt/sdk': range };
    fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2));
  };
  const sdk = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'sdk/package.json'), 'utf8')) as { version: string }).version;
  const firewallDrivers = (list: DriverJson[]): string[] => list.find((d) => d.interface === 'firewall')!.drivers.map((d) => d.name).sort();

  const link = await host.volt(['plugins', 'link', plugin, '--no-install'], { env });
  t.is(link.code, 0, link.stderr);

  // Built for @volt/sdk ^2.0.0: none of its drivers load, and every driver-using command says why.
  const refused = await host.volt(['driver', 'list', '-o', 'json'], { env });
  t.is(refused.code, 0, refused.stderr);
  t.deepEqual(firewallDrivers(JSON.parse(refused.stdout) as DriverJson[]), ['nftables']);
  t.true(
    refused.stderr.includes(
      `warning: plugin volt-plugin-sdk-major-fixture 2.0.0 was not loaded: it was built for @volt/sdk ^2.0.0 (2.x), and this volt has @volt/sdk ${sdk}.`,
    ),
    refused.stderr,
  );
  t.regex(refused.stderr, /To fix: rebuild volt-plugin-sdk-major-fixture against @volt\/sdk 1\.x and declare "peerDependencies": \{ "@volt\/sdk": "\^1\.0\.0" \}/);

  // Asked for by name, its driver is unknown, and the error says the plugin was refused.
  fs.writeFileSync(path.join(host.root, 'etc/volt/config.yaml'), 'drivers:\n  firewall: fixture\n');
  const asked = await host.volt(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24'], { env });
  t.is(asked.code, 2);
  t.regex(asked.stderr, /drivers\.firewall is "fixture", which no installed plugin provides/);
  t.regex(asked.stderr, /plugin volt-plugin-sdk-major-fixture 2\.0\.0 was not loaded: it was built for @volt\/sdk \^2\.0\.0/);
  t.deepEqual((await host.execJson<unknown[]>('ip', ['-j', 'link', 'show', 'type', 'bridge'])).length, 0, 'nothing was created');

  // No range at all is refused too.
  fs.writeFileSync(path.join(host.root, 'etc/volt/config.yaml'), '');
  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { peerDependencies?: Record<string, string> };
  delete pkg.peerDependencies;
  fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2));
  const none = await host.volt(['driver', 'list', '-o', 'json'], { env });
  t.deepEqual(firewallDrivers(JSON.parse(none.stdout) as DriverJson[]), ['nftables']);
  t.regex(none.stderr, /plugin volt-plugin-sdk-major-fixture 2\.0\.0 was not loaded: it does not say which @volt\/sdk it was built for/);

  // The same plugin declaring our major loads, and its driver is used.
  setRange(`^${sdk.split('.')[0]}.0.0`);
  fs.writeFileSync(path.join(host.root, 'etc/volt/config.yaml'), 'drivers:\n  firewall: fixture\n');
  const loaded = await host.volt(['driver', 'list', '-o', 'json'], { env });
  t.is(loaded.code, 0, loaded.stderr);
  t.notRegex(loaded.stderr, /was not loaded/);
  const list = JSON.parse(loaded.stdout) as DriverJson[];
  t.deepEqual(firewallDrivers(list), ['fixture', 'nftables']);
  t.is(list.find((d) => d.interface === 'firewall')!.active, 'fixture');
});

test('config show prints the effective configuration; validate checks a file', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const show = await host.voltJson<{ network: { default_subnet: string; mtu: number; dns: { upstream: string[] } } }>(['config', 'show', '-o', 'json']);
  t.is(show.network.default_subnet, '10.0.0.0/24');
  t.deepEqual(show.network.dns.upstream, ['1.1.1.1', '8.8.8.8']);
  fs.writeFileSync(path.join(host.root, 'etc/volt/config.yaml'), 'network:\n  mtu: 9000\n');
  const yaml = await host.voltOk(['config', 'show']);
  t.regex(yaml.stdout, /mtu: 9000/);
  t.regex(yaml.stdout, /default_bridge: volt0/);
  const ok = await host.voltOk(['config', 'validate']);
  t.regex(ok.stdout, /config\.yaml: valid/);
  const other = path.join(host.root, 'other.yaml');
  fs.writeFileSync(other, 'network:\n  dns:\n    upstream: [1.1.1.1, nope]\n');
  const bad = await host.volt(['config', 'validate', other]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /other\.yaml:3:\d+: network\.dns\.upstream\.1: "nope" is not an IP address/);
  const missing = await host.volt(['config', 'validate', path.join(host.root, 'nope.yaml')]);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /ENOENT|no such file/);
});

test('init is idempotent and inspect shows the network', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  t.regex((await host.voltOk(['init'])).stdout, /created network volt0/);
  t.regex((await host.voltOk(['init'])).stdout, /default network volt0 already exists/);
  // First use of any mutating command creates the default network implicitly.
  const inspect = await host.voltOk(['net', 'inspect', 'volt0']);
  t.regex(inspect.stdout, /Bridge:\s+volt0/);
  t.regex(inspect.stdout, /Gateway:\s+10\.0\.0\.1/);
  t.regex(inspect.stdout, /Status:\s+up/);
  t.regex(inspect.stdout, /Drift:\s+none/);
  const yaml = await host.voltOk(['net', 'inspect', 'volt0', '-o', 'yaml']);
  t.regex(yaml.stdout, /subnet: 10\.0\.0\.0\/24/);
});

test('first use creates the default network implicitly', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const nets = await host.voltJson<{ name: string; isDefault: boolean }[]>(['net', 'list', '-o', 'json']);
  t.deepEqual(nets.map((n) => [n.name, n.isDefault]), [['volt0', true], ['backend', false]]);
});
