import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { defaultConfig, type VoltConfig } from '@volt/core/dist/config/defaults';
import { voltPaths } from '@volt/sdk';
import { dnsRecords, planDns, reverseName } from '@volt/core/dist/services/dns/dns-records';
import { RESOLV_CONF_MARKER, resolvConfListener, resolvConfPath, syncResolvConf } from '@volt/core/dist/services/dns/dns-resolvconf';
import { askDns } from '@volt/core/dist/services/dns/dns-control';
import { emptyState, type NetworkRecord, type VoltState } from '@volt/core/dist/state/types';

function net(name: string, third: number, nat = true): NetworkRecord {
  return {
    name,
    bridge: `volt-${name}`,
    subnet: `10.${third}.0.0/24`,
    gateway: `10.${third}.0.1`,
    mtu: 1500,
    nat,
    mac: '02:00:00:00:00:01',
    isDefault: false,
    createdAt: '',
  };
}

// A process that passes for db-primary's QEMU: alive, with the VM's UUID in its command line.
const QEMU_UUID = 'aaaaaaaa-0000-4000-8000-000000000001';
let qemu: ChildProcess | undefined;
test.before(async () => {
  qemu = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', QEMU_UUID], { stdio: 'ignore' });
  await new Promise((resolve) => qemu!.once('spawn', resolve));
});
test.after.always(() => {
  qemu?.kill('SIGKILL');
});

function state(): VoltState {
  const s = emptyState();
  s.networks.backend = net('backend', 30);
  s.networks.frontend = net('frontend', 20);
  s.networks.internal = net('internal', 50, false);
  s.workloads['api-server'] = { type: 'container', name: 'api-server', source: { kind: 'netns', name: 'api-server' }, registered: false, createdAt: '' };
  s.workloads['db-primary'] = { type: 'vm', name: 'db-primary', uuid: QEMU_UUID, config: {}, nics: [], pid: qemu?.pid, createdAt: '' };
  // A QEMU that died on its own: its pid is still in state, the process is gone.
  s.workloads['db-crashed'] = { type: 'vm', name: 'db-crashed', uuid: 'w', config: {}, nics: [], pid: 2 ** 22 + 1, createdAt: '' };
  s.workloads['db-replica'] = { type: 'vm', name: 'db-replica', uuid: 'v', config: {}, nics: [], createdAt: '' };
  const att = (workload: string, network: string, ip: string): void => {
    s.attachments.push({ workload, network, ip, mac: '02:00:00:00:00:02', kind: 'veth', ifname: 'eth0', hostIfname: 'vh', createdAt: '' });
  };
  att('api-server', 'backend', '10.30.0.100');
  att('api-server', 'frontend', '10.20.0.100');
  att('db-primary', 'backend', '10.30.0.10');
  att('db-replica', 'backend', '10.30.0.11');
  att('db-crashed', 'backend', '10.30.0.12');
  return s;
}

test('one view per network with only its own workloads; VMs only while running', (t) => {
  const plan = planDns(state(), defaultConfig(), 5353);
  t.deepEqual(
    plan.listeners.map((l) => [l.network, l.address, l.port, l.subnet]),
    [
      ['backend', '10.30.0.1', 5353, '10.30.0.0/24'],
      ['frontend', '10.20.0.1', 5353, '10.20.0.0/24'],
      ['internal', '10.50.0.1', 5353, '10.50.0.0/24'],
    ],
  );
  const backend = plan.views.find((v) => v.network === 'backend')!;
  t.deepEqual(
    backend.records.map((r) => `${r.name} ${r.type} ${r.value}`),
    [
      'api-server A 10.30.0.100',
      'api-server.volt.local A 10.30.0.100',
      '100.0.30.10.in-addr.arpa PTR api-server.volt.local',
      'db-primary A 10.30.0.10',
      'db-primary.volt.local A 10.30.0.10',
      '10.0.30.10.in-addr.arpa PTR db-primary.volt.local',
    ],
    'db-replica is stopped (no pid) and db-crashed has no process: neither is published',
  );
  const frontend = plan.views.find((v) => v.network === 'frontend')!;
  t.deepEqual(frontend.records.filter((r) => r.type === 'A').map((r) => r.value), ['10.20.0.100', '10.20.0.100'], 'its address on this network');
  t.true(backend.forward);
  t.false(plan.views.find((v) => v.network === 'internal')!.forward, '--no-nat: names only');
});

test('no upstreams configured: nothing forwards; search domains come from config', (t) => {
  const c: VoltConfig = defaultConfig();
  c.network.dns.upstream = [];
  c.network.dns.search_domains = ['corp.example', 'volt.local'];
  const plan = planDns(state(), c);
  t.true(plan.views.every((v) => !v.forward));
  t.deepEqual(
    dnsRecords(state(), c).filter((r) => r.network === 'frontend').map((r) => r.name),
    ['api-server', 'api-server.corp.example', 'api-server.volt.local', '100.0.20.10.in-addr.arpa'],
  );
});

test('reverseName', (t) => {
  t.is(reverseName('10.30.0.10'), '10.0.30.10.in-addr.arpa');
});

function tempPaths(): ReturnType<typeof voltPaths> {
  return voltPaths({ VOLT_ROOT: fs.mkdtempSync(path.join(os.tmpdir(), 'volt-dns-unit-')) });
}

test('resolv.conf for a named namespace: gateways of its networks in order, search domains; removed after the last network', (t) => {
  const paths = tempPaths();
  t.teardown(() => fs.rmSync(paths.root, { recursive: true, force: true }));
  const s = state();
  const warns: string[] = [];
  syncResolvConf(s, 'api-server', defaultConfig(), (m) => warns.push(m), paths);
  const file = resolvConfPath(paths, 'api-server');
  const text = fs.readFileSync(file, 'utf8');
  t.true(text.startsWith(RESOLV_CONF_MARKER));
  t.deepEqual(
    text.split('\n').filter((l) => !l.startsWith('#') && l !== ''),
    ['nameserver 10.30.0.1', 'nameserver 10.20.0.1', 'search volt.local'],
  );
  s.attachments = s.attachments.filter((a) => a.workload !== 'api-server');
  syncResolvConf(s, 'api-server', defaultConfig(), (m) => warns.push(m), paths);
  t.false(fs.existsSync(file));
  t.false(fs.existsSync(path.dirname(file)), 'the empty /etc/netns/NAME goes too');
  t.deepEqual(warns, []);
});

test('resolv.conf: a file volt did not write is left alone (with a warning); DNS disabled removes ours; VMs get none', async (t) => {
  const paths = tempPaths();
  t.teardown(() => fs.rmSync(paths.root, { recursive: true, force: true }));
  const s = state();
  const file = resolvConfPath(paths, 'api-server');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'nameserver 9.9.9.9\n');
  const warns: string[] = [];
  syncResolvConf(s, 'api-server', defaultConfig(), (m) => warns.push(m), paths);
  t.is(fs.readFileSync(file, 'utf8'), 'nameserver 9.9.9.9\n');
  t.regex(warns[0] ?? '', /was not written by volt; left as it is/);
  fs.rmSync(file);

  const listener = resolvConfListener(paths, defaultConfig(), (m) => warns.push(m));
  await listener(s, { added: s.attachments.filter((a) => a.workload === 'api-server'), removed: [] });
  t.true(fs.existsSync(file));
  const off = defaultConfig();
  off.network.dns.enabled = false;
  syncResolvConf(s, 'api-server', off, (m) => warns.push(m), paths);
  t.false(fs.existsSync(file));
  syncResolvConf(s, 'db-primary', defaultConfig(), (m) => warns.push(m), paths);
  t.false(fs.existsSync(path.join(paths.netnsEtcDir, 'db-primary')));
});

test('control socket: no service is an answer ("not running"), not an error', async (t) => {
  const paths = tempPaths();
  t.teardown(() => fs.rmSync(paths.root, { recursive: true, force: true }));
  const a = await askDns(paths, { op: 'flush' });
  t.false(a.running);
  // A socket file left behind by a dead service is the same.
  fs.mkdirSync(paths.runDir, { recursive: true });
  const net = await import('node:net');
  const srv = net.createServer();
  const sock = path.join(paths.runDir, 'dns.sock');
  await new Promise<void>((r) => srv.listen(sock, r));
  await new Promise<void>((r) => srv.close(() => r()));
  fs.writeFileSync(sock, '');
  t.false((await askDns(paths, { op: 'flush' })).running);
});
