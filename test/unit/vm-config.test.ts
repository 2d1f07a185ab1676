import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { NetworkRecord } from '@volt/core/dist/state/types';
import { formatPath, nicRecords, parseVmConfig, type VmConfigContext } from '@volt/core/dist/services/vm/vm-config';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-vmcfg-'));
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));
const kernel = path.join(dir, 'vmlinuz');
fs.writeFileSync(kernel, 'k');
fs.writeFileSync(path.join(dir, 'initrd.gz'), 'i');

function net(name: string, bridge: string, subnet: string, mtu = 1500): NetworkRecord {
  return { name, bridge, subnet, gateway: subnet.replace(/0\/\d+$/, '1'), mtu, nat: true, mac: '02:00:00:00:00:01', isDefault: name === 'volt0', createdAt: '' };
}

const ctx: VmConfigContext = {
  networks: { volt0: net('volt0', 'volt0', '10.0.0.0/24'), mgmt: net('mgmt', 'br-mgmt', '10.40.0.0/24'), data: net('data', 'br-data', '10.41.0.0/24', 9000) },
  defaultNetwork: 'volt0',
  nicDrivers: ['networkd', 'direct-tap'],
};

const parse = (o: unknown, c: VmConfigContext = ctx) => parseVmConfig(typeof o === 'string' ? o : JSON.stringify(o, null, 2), path.join(dir, 'vm.json'), c);

test('the spec’s minimal VM: defaults filled in, paths made absolute, mode and bridge resolved', (t) => {
  const c = parse({ vcpus: 2, memory_mib: 512, kernel: 'vmlinuz', initrd: 'initrd.gz', network: [{ id: 'eth0', mode: 'networkd', bridge: 'volt0', mac: '52:54:00:12:34:56', vhost: true }] });
  t.like(c, { vcpus: 2, memory_mib: 512, kernel, initrd: path.join(dir, 'initrd.gz'), accel: 'auto', machine: 'q35' });
  t.deepEqual(c.network, [{ id: 'eth0', network: 'volt0', mode: 'networkd', mac: '52:54:00:12:34:56', ip: undefined, vhost: true, mtu: undefined, multiqueue: 1 }]);
});

test('the spec’s multi-NIC VM: bridges by kernel name, mtu and multiqueue kept', (t) => {
  const c = parse({ kernel, network: [{ id: 'mgmt', bridge: 'br-mgmt', vhost: true }, { id: 'data', bridge: 'br-data', mtu: 9000, vhost: true, multiqueue: 4 }] });
  t.deepEqual(nicRecords(c).map((n) => [n.id, n.network, n.mtu, n.queues, n.vhost]), [['mgmt', 'mgmt', undefined, 1, true], ['data', 'data', 9000, 4, true]]);
});

test('NICs without id, network or bridge: eth<i> on the default network; "direct" means direct-tap; vhost defaults on', (t) => {
  const c = parse({ kernel, network: [{}, { mode: 'direct' }] }, { ...ctx, networks: {} });
  t.deepEqual(c.network.map((n) => [n.id, n.network, n.mode, n.vhost]), [['eth0', 'volt0', undefined, true], ['eth1', 'volt0', 'direct-tap', true]]);
});

test('disk as a path or an object', (t) => {
  t.deepEqual(parse({ kernel, disk: 'vmlinuz' }).disk, { path: kernel, format: 'raw', readonly: false });
  t.deepEqual(parse({ kernel, disk: { path: kernel, format: 'qcow2', readonly: true } }).disk, { path: kernel, format: 'qcow2', readonly: true });
});

const bad: [string, unknown, RegExp][] = [
  ['missing kernel', { vcpus: 1 }, /vm\.json:1:1: kernel: is required/],
  ['unknown key', { kernel, firmware: 'x' }, /vm\.json:3:3: firmware: unknown key "firmware"/],
  ['wrong type', { kernel, memory_mib: '512' }, /memory_mib: expected integer/],
  ['vcpus out of range', { kernel, vcpus: 0 }, /vcpus: must be an integer from 1 to 64/],
  ['accel', { kernel, accel: 'hvf' }, /accel: must be one of "auto", "kvm", "tcg"/],
  ['mtu out of range', { kernel, network: [{ mtu: 100 }] }, /network\[0\]\.mtu: must be an integer from 576 to 65535/],
  ['multiqueue out of range', { kernel, network: [{ multiqueue: 64 }] }, /network\[0\]\.multiqueue: must be an integer from 1 to 16/],
  ['duplicate ids', { kernel, network: [{ id: 'a' }, { id: 'a' }] }, /network\[1\]\.id: duplicate NIC id "a" \(also network\[0\]\)/],
  ['duplicate MACs', { kernel, network: [{ mac: '52:54:00:00:00:01' }, { mac: '52-54-00-00-00-01' }] }, /network\[1\]\.mac: duplicate MAC 52:54:00:00:00:01/],
  ['unknown network', { kernel, network: [{ network: 'backend' }] }, /network\[0\]\.network: unknown network "backend" \(known: volt0 \(bridge volt0\), mgmt/],
  ['unknown bridge', { kernel, network: [{ bridge: 'br0' }] }, /network\[0\]\.bridge: no network uses bridge "br0"/],
  ['mtu above the network', { kernel, network: [{ network: 'mgmt', mtu: 9000 }] }, /network\[0\]\.mtu: 9000 is larger than the MTU of network "mgmt" \(1500\)/],
  ['mode', { kernel, network: [{ mode: 'sriov' }] }, /"sriov" is not an installed vm-nic driver \(valid: networkd, direct-tap\)/],
  ['ip not IPv4', { kernel, network: [{ ip: 'fe80::1' }] }, /network\[0\]\.ip: "fe80::1" is not an IPv4 address/],
  ['too many NICs', { kernel, network: Array.from({ length: 9 }, () => ({})) }, /network: expected array length to be less or equal to 8|network: .*8/],
  ['kernel missing on disk', { kernel: 'nope' }, /kernel: .*nope does not exist or is not readable/],
];

for (const [title, cfg, re] of bad) {
  test(`rejected: ${title}`, (t) => {
    const e = t.throws(() => parse(cfg));
    t.regex(e?.message ?? '', re);
    t.is((e as unknown as { code: string }).code, 'E_VM_CONFIG_INVALID');
  });
}

test('JSON syntax errors point at the line and column', (t) => {
  const e = t.throws(() => parse('{\n  "kernel": "x",\n  oops\n}'));
  t.regex(e?.message ?? '', /vm\.json:3:3: not valid JSON/);
  t.is((e as unknown as { code: string }).code, 'E_VM_CONFIG_JSON');
});

test('JSON paths read like the file: network[1].mtu', (t) => {
  t.is(formatPath(['network', 1, 'mtu']), 'network[1].mtu');
  t.is(formatPath([]), '(top level)');
});
