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
