import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost, ping, UPLINK } from '../harness';
import { bridgeInfo, observable } from './kernel-snapshot';

interface NetJson {
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
  nat: boolean;
  mtu: number;
  status: string;
  connected: number;
}
interface DriverJson {
  interface: string;
  active: string | null;
  why: string;
  drivers: { name: string; available: boolean; active: boolean; reason: string }[];
}
interface NftTable {
  nftables: ({ chain?: { name: string; hook?: string; type?: string; table: string } } & Record<string, unknown>)[];
}

for (const driver of ['direct', 'networkd'] as const) {
  test(`${driver}: networks with NAT and isolation, proven with real traffic`, async (t) => {
    const host = await SandboxHost.create(t, { networkd: driver === 'networkd', config: `drivers:\n  bridge: ${driver}\n` });

    const init = await host.voltOk(['init']);
    t.regex(init.stdout, /created network volt0 \(bridge volt0, 10\.0\.0\.0\/24, gateway 10\.0\.0\.1\)/);
    await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
    await host.voltOk(['net', 'create', '--name', 'internal', '--subnet', '10.50.0.0/24', '--no-nat', '--mtu', '9000']);

    // The kernel has the bridges, with the gateway, MTU, a stable MAC and no IPv6 link-local.
    const b = observable(await bridgeInfo(host, 'volt-backend')) as { kind: string; up: boolean; mtu: number; ipv4: string[]; ipv6LinkLocal: boolean };
    t.is(b.kind, 'bridge');
    t.true(b.up);
    t.deepEqual(b.ipv4, ['10.30.0.1/24']);
    t.is(b.mtu, 1500);
    t.false(b.ipv6LinkLocal);
    t.is((observable(await bridgeInfo(host, 'volt-internal')) as { mtu: number }).mtu, 9000);
    t.deepEqual((observable(await bridgeInfo(host, 'volt0')) as { ipv4: string[] }).ipv4, ['10.0.0.1/24']);

    // The firewall table with the spec's chain names.
    const table = await host.execJson<NftTable>('nft', ['-j', 'list', 'table', 'inet', 'volt']);
    const chains = table.nftables.flatMap((o) => (o.chain ? [o.chain] : []));
    for (const [name, hook] of [
      ['volt-input', 'input'],
      ['volt-forward', 'forward'],
      ['volt-nat-pre', 'prerouting'],
      ['volt-nat-post', 'postrouting'],
    ]) {
      t.is(chains.find((c) => c.name === name)?.hook, hook, `${name} hooks ${hook}`);
    }
    // IP forwarding is on in the host namespace.
    t.is((await host.exec('sysctl', ['-n', 'net.ipv4.ip_forward'])).stdout.trim(), '1');

    if (driver === 'networkd') {
      const units = fs.readdirSync(path.join(host.root, 'etc/systemd/network')).sort();
      t.deepEqual(units, [
        '10-volt-volt-backend.netdev',
        '10-volt-volt-backend.network',
        '10-volt-volt-internal.netdev',
        '10-volt-volt-internal.network',
        '10-volt-volt0.netdev',
        '10-volt-volt0.network',
      ]);
      const list = await host.exec('networkctl', ['list', '--no-legend', '--no-pager']);
      t.regex(list.stdout, /volt-backend\s+bridge\s+\S+\s+configured/);
    }

    const nets = await host.voltJson<NetJson[]>(['net', 'list', '-o', 'json']);
    t.deepEqual(
      nets.map((n) => [n.name, n.bridge, n.subnet, n.gateway, n.nat, n.status]),
      [
        ['volt0', 'volt0', '10.0.0.0/24', '10.0.0.1', true, 'up'],
        ['backend', 'volt-backend', '10.30.0.0/24', '10.30.0.1', true, 'up'],
        ['internal', 'volt-internal', '10.50.0.0/24', '10.50.0.1', false, 'up'],
      ],
    );

    // Containers (until `volt net connect` exists the harness plugs raw veths).
    const web = await host.addContainer('web');
    const tool = await host.addContainer('tool');
    const db = await host.addContainer('db');
    await host.attachRaw(web, 'volt-backend', '10.30.0.10/24', '10.30.0.1');
    await host.attachRaw(tool, 'volt-backend', '10.30.0.11/24', '10.30.0.1');
    await host.attachRaw(db, 'volt-internal', '10.50.0.10/24', '10.50.0.1');

    t.true(await ping(web, '10.30.0.1'), 'container reaches its gateway');
    t.true(await ping(db, '10.50.0.1'), 'internal container reaches its gateway');
    t.true(await ping(web, '10.30.0.11'), 'same network: L2 peers');
    t.true(await ping(web, UPLINK.internetAddress, { count: 2 }), 'NAT network reaches the outside through the uplink');
    t.false(await ping(db, UPLINK.internetAddress, { timeoutS: 1 }), '--no-nat network has no outbound');
    t.false(await ping(web, '10.50.0.10', { timeoutS: 1 }), 'different networks are isolated');
    t.false(await ping(db, '10.30.0.10', { timeoutS: 1 }), 'isolation holds both ways');
    t.false(await ping(host.outside!, UPLINK.hostAddress, { timeoutS: 1 }), 'inbound to host is denied');

    const bl = await host.voltOk(['net', 'bridge', 'list']);
    const lines = bl.stdout.trim().split('\n');
    t.regex(lines[0]!, /^NAME\s+SUBNET\s+MTU\s+CONNECTED\s+STATUS$/);
    t.regex(bl.stdout, /\nbackend\s+10\.30\.0\.0\/24\s+1500\s+2\s+up\n/);
    t.regex(bl.stdout, /\ninternal\s+10\.50\.0\.0\/24\s+9000\s+1\s+up/);

    const drivers = await host.voltJson<DriverJson[]>(['driver', 'list', '-o', 'json']);
    const bridge = drivers.find((d) => d.interface === 'bridge')!;
    t.is(bridge.active, driver);
    t.is(bridge.why, 'configured (drivers.bridge)');
    t.deepEqual(bridge.drivers.map((d) => d.name).sort(), ['direct', 'networkd']);
    t.is(drivers.find((d) => d.interface === 'firewall')!.active, 'nftables');

    // Delete refuses while containers are attached, works with --force, and cleans up.
    const refused = await host.volt(['net', 'delete', 'internal']);
    t.is(refused.code, 4);
    t.regex(refused.stderr, /delete network "internal": 1 workload is still attached/);
    await host.voltOk(['net', 'delete', 'internal', '--force']);
    t.is(await bridgeInfo(host, 'volt-internal'), undefined);
    const after = JSON.stringify(await host.execJson('nft', ['-j', 'list', 'table', 'inet', 'volt']));
    t.false(after.includes('volt-internal'), 'no rule mentions the deleted bridge');
    t.false(after.includes('10.50.0.0'), 'no rule mentions the deleted subnet');
    if (driver === 'networkd') t.false(fs.existsSync(path.join(host.root, 'etc/systemd/network/10-volt-volt-internal.netdev')));
    t.true(await ping(web, UPLINK.internetAddress), 'the other networks are untouched');

    // Deleting the last networks removes the table too.
    await host.voltOk(['net', 'delete', 'backend', '--force']);
    await host.voltOk(['net', 'delete', 'volt0']);
    const tables = await host.exec('nft', ['list', 'tables']);
    t.notRegex(tables.stdout, /volt/);
  });
}

test('detection without networkd falls back to direct and says why', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const drivers = await host.voltJson<DriverJson[]>(['driver', 'list', '-o', 'json']);
  const bridge = drivers.find((d) => d.interface === 'bridge')!;
  t.is(bridge.active, 'direct');
  t.regex(bridge.why, /^networkd: .*not running.* → direct$/);
  const table = await host.voltOk(['driver', 'list']);
  t.regex(table.stdout, /^INTERFACE\s+DRIVER\s+ACTIVE\s+AVAILABLE\s+WHY/);
  t.regex(table.stdout, /bridge\s+direct\s+yes\s+yes\s+networkd: .*→ direct/);
  // The VM NIC side interfaces: vhost-net (absent on this kernel, said why) and the guest DHCP that goes with direct.
  const accel = drivers.find((d) => d.interface === 'vm-nic-accel')!;
  t.deepEqual(accel.drivers.map((d) => d.name), ['vhost-net']);
  t.regex(table.stdout, /vm-nic-accel\s+vhost-net\s+(yes\s+yes|no\s+no\s+\/dev\/vhost-net: )/);
  const dhcp = drivers.find((d) => d.interface === 'guest-dhcp')!;
  t.is(dhcp.active, 'dnsmasq');
  // Selected by the registry: the one made for networkd does not go with direct.
  t.is(dhcp.why, 'networkd-dhcp: goes with the networkd bridge driver, and the active one is direct → dnsmasq');
  t.deepEqual(dhcp.drivers.map((d) => d.name).sort(), ['dnsmasq', 'networkd-dhcp']);
});

test('detection picks networkd when it answers on D-Bus', async (t) => {
  const host = await SandboxHost.create(t, { networkd: true, uplink: false });
  const drivers = await host.voltJson<DriverJson[]>(['driver', 'list', '-o', 'json']);
  const bridge = drivers.find((d) => d.interface === 'bridge')!;
  t.is(bridge.active, 'networkd');
  t.regex(bridge.why, /^detected: /);
  const dhcp = drivers.find((d) => d.interface === 'guest-dhcp')!;
  t.is(dhcp.active, 'networkd-dhcp', 'guest DHCP goes with the networkd bridge driver');
  t.regex(dhcp.why, /^detected: /, 'detection takes the one made for the active bridge driver first');
});

test('switching drivers.bridge gives the same observable bridge', async (t) => {
  const seen: unknown[] = [];
  for (const driver of ['direct', 'networkd'] as const) {
    const host = await SandboxHost.create(undefined, { networkd: driver === 'networkd', uplink: false, config: `drivers:\n  bridge: ${driver}\n` });
    try {
      await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24', '--mtu', '1400']);
      seen.push({ volt0: observable(await bridgeInfo(host, 'volt0')), backend: observable(await bridgeInfo(host, 'volt-backend')) });
    } finally {
      await host.destroy();
    }
  }
  t.deepEqual(seen[0], seen[1]);
  t.is((seen[0] as { backend: { mtu: number } }).backend.mtu, 1400);
});

test('help and examples on every command', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  for (const cmd of [['net', 'create'], ['net', 'list'], ['net', 'inspect'], ['net', 'delete'], ['net', 'status'], ['net', 'up'], ['net', 'check'], ['net', 'bridge', 'list'], ['net', 'bridge', 'create'], ['net', 'bridge', 'delete'], ['config', 'show'], ['config', 'validate'], ['driver', 'list'], ['init']]) {
    const r = await host.voltOk([...cmd, '--help']);
    t.regex(r.stdout, /USAGE/, cmd.join(' '));
    t.regex(r.stdout, /EXAMPLES/, cmd.join(' '));
  }
});

test('net delete --force removes the connected containers\' veths too: nothing is left for net check to find', async (t) => {
  const host = await SandboxHost.create(t);
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  await host.voltOk(['net', 'create', '--name', 'other', '--subnet', '10.40.0.0/24']);
  const a = await host.addContainer('a');
  const b = await host.addContainer('b');
  await host.voltOk(['net', 'connect', 'backend', a.netns]);
  await host.voltOk(['net', 'connect', 'backend', b.netns]);
  await host.voltOk(['net', 'connect', 'other', b.netns]);
  const hostEnds = async (): Promise<string[]> =>
    (await host.execJson<{ ifname: string; ifalias?: string }[]>('ip', ['-j', 'link', 'show'])).filter((l) => (l.ifalias ?? '').startsWith('volt:backend/')).map((l) => l.ifname);
  t.is((await hostEnds()).length, 2);

  await host.voltOk(['net', 'delete', 'backend', '--force']);
  t.deepEqual(await hostEnds(), [], 'no host end of a backend veth is left');
  const inside = async (c: typeof a): Promise<string[]> => (await c.execJson<{ ifname: string }[]>('ip', ['-j', 'link', 'show'])).map((l) => l.ifname).sort();
  t.deepEqual(await inside(a), ['lo'], 'the container lost its backend NIC');
  t.deepEqual(await inside(b), ['eth1', 'lo'], 'and keeps the one of the other network');
  const check = await host.volt(['net', 'check', '-o', 'json']);
  t.is(check.code, 0, check.stdout + check.stderr);
  const report = JSON.parse(check.stdout) as { ok: boolean; drift: string[]; leftovers?: unknown[] };
  t.true(report.ok);
  t.deepEqual(report.leftovers ?? [], [], 'no orphan for net up to clean');
  t.true(await ping(b, '10.40.0.1'), 'the other network is untouched');
});
