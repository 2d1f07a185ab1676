import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost, guestConfig } from '../harness';
import { snapshot } from './kernel-snapshot';
import { inspectVm, tapLink, writeConfig, type Attachment } from './300-vm-scenario';

interface ConfigCase {
  title: string;
  /** The VM JSON, as text (so position reporting is tested too). */
  json: (kernel: string) => string;
  stderr: RegExp;
}

const nic = (extra: string): string => `{"kernel": "KERNEL", "network": [{"id": "eth0", "network": "backend"${extra}}]}`;

const configCases: ConfigCase[] = [
  { title: 'missing kernel', json: () => '{\n  "vcpus": 2\n}', stderr: /db\.json:2:3: kernel: is required|db\.json:1:1: kernel: is required/ },
  { title: 'unknown key', json: (k) => `{\n  "kernel": "${k}",\n  "gpu": true\n}`, stderr: /db\.json:3:3: gpu: unknown key "gpu"/ },
  { title: 'wrong type', json: (k) => `{\n  "kernel": "${k}",\n  "vcpus": "two"\n}`, stderr: /db\.json:3:3: vcpus: expected integer/ },
  { title: 'wrong type in a NIC', json: (k) => nic(', "vhost": "yes"').replace('KERNEL', k), stderr: /network\[0\]\.vhost: expected boolean/ },
  {
    title: 'mtu out of range',
    json: (k) => `{\n  "kernel": "${k}",\n  "network": [\n    {"id": "eth0", "network": "backend"},\n    {"id": "eth1", "network": "backend", "mtu": 70000}\n  ]\n}`,
    stderr: /db\.json:5:42: network\[1\]\.mtu: must be an integer from 576 to 65535/,
  },
  { title: 'duplicate NIC ids', json: (k) => `{"kernel": "${k}", "network": [{"id": "eth0", "network": "backend"}, {"id": "eth0", "network": "backend"}]}`, stderr: /network\[1\]\.id: duplicate NIC id "eth0" \(also network\[0\]\)/ },
  { title: 'unknown network', json: (k) => `{"kernel": "${k}", "network": [{"id": "eth0", "network": "nope"}]}`, stderr: /network\[0\]\.network: unknown network "nope" \(known: volt0 \(bridge volt0\), backend \(bridge volt-backend\)\)/ },
  { title: 'unknown bridge', json: (k) => `{"kernel": "${k}", "network": [{"id": "eth0", "bridge": "br0"}]}`, stderr: /network\[0\]\.bridge: no network uses bridge "br0"/ },
  { title: 'bridge and network disagree', json: (k) => `{"kernel": "${k}", "network": [{"id": "eth0", "network": "volt0", "bridge": "volt-backend"}]}`, stderr: /bridge "volt-backend" belongs to network "backend", not "volt0"/ },
  { title: 'malformed MAC', json: (k) => nic(', "mac": "52:54:00:zz:00:01"').replace('KERNEL', k), stderr: /network\[0\]\.mac: "52:54:00:zz:00:01" is not a MAC address/ },
  { title: 'multicast MAC', json: (k) => nic(', "mac": "01:00:5e:00:00:01"').replace('KERNEL', k), stderr: /network\[0\]\.mac: 01:00:5e:00:00:01 is a multicast address/ },
  { title: 'address outside the subnet', json: (k) => nic(', "ip": "10.99.0.5"').replace('KERNEL', k), stderr: /network\[0\]\.ip: 10\.99\.0\.5 is outside 10\.30\.0\.0\/24/ },
  { title: 'NIC MTU above the network’s', json: (k) => nic(', "mtu": 9000').replace('KERNEL', k), stderr: /network\[0\]\.mtu: 9000 is larger than the MTU of network "backend" \(1500\)/ },
  { title: 'unknown vm-nic mode', json: (k) => nic(', "mode": "sriov"').replace('KERNEL', k), stderr: /network\[0\]\.mode: "sriov" is not an installed vm-nic driver \(valid: .*direct-tap/ },
  { title: 'bad NIC id', json: (k) => nic('').replace('"eth0"', '"0eth"').replace('KERNEL', k), stderr: /network\[0\]\.id: "0eth" does not match \^\[A-Za-z\]/ },
  { title: 'kernel file missing', json: () => '{"kernel": "/nonexistent/vmlinuz"}', stderr: /db\.json:1:2: kernel: \/nonexistent\/vmlinuz does not exist or is not readable/ },
  { title: 'not JSON', json: () => '{"kernel": "x",,}', stderr: /db\.json:1:\d+: not valid JSON/ },
  { title: 'duplicate key', json: (k) => `{"kernel": "${k}", "vcpus": 1, "vcpus": 2}`, stderr: /duplicate key/ },
  { title: 'not an object', json: () => '[1, 2]', stderr: /the file must be a JSON object/ },
];

test('bad VM configs: every problem names file:line:column and the JSON path; nothing is created', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const kernel = path.join(host.workDir, 'vmlinuz');
  fs.writeFileSync(kernel, 'not really a kernel');
  const file = path.join(host.workDir, 'db.json');
  const before = await snapshot(host);
  for (const k of configCases) {
    fs.writeFileSync(file, k.json(kernel));
    const r = await host.volt(['vm', 'create', 'db', '--config', file]);
    t.is(r.code, 2, `${k.title}: exit code\n${r.stderr}`);
    t.regex(r.stderr, k.stderr, k.title);
    t.regex(r.stderr, /E|→ see docs\/vms\.md|not valid JSON/, k.title);
  }
  t.deepEqual(await snapshot(host), before, 'nothing changed');
  // Several problems at once are all reported.
  fs.writeFileSync(file, `{"kernel": "${kernel}", "vcpus": 0, "memory_mib": "lots", "colour": "red"}`);
  const many = await host.volt(['vm', 'create', 'db', '--config', file]);
  t.regex(many.stderr, /vcpus: must be an integer from 1 to 64[^]*memory_mib: expected integer[^]*colour: unknown key "colour"/);

  // A config that validates but does not boot: QEMU's own words, every completed step undone.
  fs.writeFileSync(file, JSON.stringify({ kernel, accel: 'tcg', network: [{ network: 'backend' }] }));
  await host.voltOk(['vm', 'create', 'db', '--config', file]);
  const created = await snapshot(host);
  const boot = await host.volt(['vm', 'start', 'db']);
  t.is(boot.code, 5);
  t.regex(boot.stderr, /start VM "db": QEMU exited with 1: qemu: invalid kernel header\n\s+→ full output: .*qemu\.log/);
  t.deepEqual(await snapshot(host), created, 'no TAP, no attachment');
  t.false(fs.existsSync(path.join(host.root, 'run/volt/dhcp/volt-backend')), 'the lease served for the attempt is withdrawn');
  t.is((await inspectVm(host, 'db')).state, 'stopped');
});

test('bad input around VMs: unknown workload or VM, duplicates, --ip and --mac errors; a stopped VM gets its network at start', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  await host.voltOk(['net', 'create', '--name', 'other', '--subnet', '10.31.0.0/24']);
  const cfg = guestConfig([{ id: 'eth0', network: 'backend' }]);
  await host.voltOk(['vm', 'create', 'db', '--config', writeConfig(host, 'db', cfg)]);
  // A stopped VM: connecting reserves the address and serves the lease now; the TAP comes at start.
  const a = await host.voltJson<Attachment>(['net', 'connect', 'backend', 'db', '-o', 'json']);
  t.deepEqual([a.ip, a.ifname, a.network], ['10.30.0.2', 'eth0', 'backend']);
  t.regex(fs.readFileSync(path.join(host.root, 'run/volt/dhcp/volt-backend/dnsmasq.conf'), 'utf8'), new RegExp(`dhcp-host=${a.mac},10\\.30\\.0\\.2,db`));
  t.is(await tapLink(host, a.hostIfname), undefined);

  const cases: { title: string; args: string[]; exit: number; stderr: RegExp }[] = [
    { title: 'unknown workload', args: ['net', 'connect', 'backend', 'nosuch'], exit: 3, stderr: /no workload named "nosuch"[^]*volt vm create/ },
    { title: 'unknown VM (start)', args: ['vm', 'start', 'nosuch'], exit: 3, stderr: /start VM "nosuch": no VM named "nosuch"/ },
    { title: 'unknown VM (stop)', args: ['vm', 'stop', 'nosuch'], exit: 3, stderr: /no VM named "nosuch"/ },
    { title: 'unknown VM (delete)', args: ['vm', 'delete', 'nosuch'], exit: 3, stderr: /no VM named "nosuch"/ },
    { title: 'VM name taken', args: ['vm', 'create', 'db', '--config', path.join(host.workDir, 'db.json')], exit: 4, stderr: /create VM "db": a vm with this name exists/ },
    { title: 'bad VM name', args: ['vm', 'create', 'bad/name', '--config', path.join(host.workDir, 'db.json')], exit: 2, stderr: /names are 1-63 letters/ },
    { title: 'config file missing', args: ['vm', 'create', 'x', '--config', '/nonexistent.json'], exit: 2, stderr: /read \/nonexistent\.json: ENOENT/ },
    { title: 'already on that network', args: ['net', 'connect', 'backend', 'db'], exit: 4, stderr: /connect "db" to network "backend": already connected/ },
    { title: '--ip outside the subnet', args: ['net', 'connect', 'other', 'db', '--ip', '10.30.0.9'], exit: 2, stderr: /10\.30\.0\.9 is outside 10\.31\.0\.0\/24/ },
    { title: '--ip is the gateway', args: ['net', 'connect', 'other', 'db', '--ip', '10.31.0.1'], exit: 2, stderr: /10\.31\.0\.1 is the gateway of network "other"/ },
    { title: '--ip taken', args: ['net', 'connect', 'backend', 'db2', '--ip', '10.30.0.2'], exit: 4, stderr: /10\.30\.0\.2 is already taken by "db"/ },
    { title: 'malformed MAC', args: ['net', 'connect', 'other', 'db', '--mac', 'nope'], exit: 2, stderr: /"nope" is not a MAC address/ },
    { title: 'multicast MAC', args: ['net', 'connect', 'other', 'db', '--mac', '01:00:5e:00:00:01'], exit: 2, stderr: /01:00:5e:00:00:01 is a multicast address/ },
    { title: 'disconnect from a network it is not on', args: ['net', 'disconnect', 'db', 'other'], exit: 3, stderr: /not connected to that network/ },
  ];
  await host.voltOk(['vm', 'create', 'db2', '--config', writeConfig(host, 'db2', guestConfig([]))]);
  const before = await snapshot(host);
  for (const k of cases) {
    const r = await host.volt(k.args);
    t.is(r.code, k.exit, `${k.title}: exit code\n${r.stderr}`);
    t.regex(r.stderr, k.stderr, k.title);
  }
  t.deepEqual(await snapshot(host), before, 'nothing changed');

  // Start: the NIC that was connected while stopped is plugged into its bridge; a new network means a new NIC.
  const c2 = await host.voltJson<Attachment>(['net', 'connect', 'other', 'db', '-o', 'json']);
  t.is(c2.ifname, 'eth1', 'a stopped VM gets a new NIC for a new network');
  await host.voltOk(['vm', 'start', 'db']);
  const vm = await inspectVm(host, 'db');
  t.deepEqual(vm.nics.map((n) => [n.id, n.network, n.ip]), [['eth0', 'backend', '10.30.0.2'], ['eth1', 'other', '10.31.0.2']]);
  t.is((await tapLink(host, a.hostIfname))?.master, 'volt-backend');
  t.is((await tapLink(host, c2.hostIfname))?.master, 'volt-other');
  // Running, every NIC connected: no hot-plug.
  await host.voltOk(['net', 'create', '--name', 'third', '--subnet', '10.32.0.0/24']);
  const running = await snapshot(host);
  const hot = await host.volt(['net', 'connect', 'third', 'db']);
  t.is(hot.code, 4);
  t.regex(hot.stderr, /the VM is running and every NIC it has is connected; volt does not hot-plug NICs/);
  t.deepEqual(await snapshot(host), running);
  await host.voltOk(['vm', 'stop', 'db', '--force']);
  t.is(await tapLink(host, a.hostIfname), undefined);
});
