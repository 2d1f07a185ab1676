import test from 'ava';
import { classify, type Leftover, type Observed } from '@volt/core/dist/services/network/leftovers';
import { parseScan, type ScannedLink } from '@volt/core/dist/kernel/link-scan';
import { emptyState, type VoltState, type VmRecord } from '@volt/core/dist/state/types';

const UUID = '0b6c1f3e-8a2d-4c55-9e1f-2a3b4c5d6e7f';

function state(): VoltState {
  const s = emptyState();
  s.networks.backend = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', mtu: 1500, nat: true, mac: '02:00:00:00:00:01', isDefault: false, createdAt: 'x' };
  for (const [name, ip, host] of [['web', '10.30.0.10', 'vh00000000aa'], ['api', '10.30.0.11', 'vh00000000bb']] as const) {
    s.workloads[name] = { type: 'container', name, source: { kind: 'netns', name }, registered: false, createdAt: 'x' };
    s.attachments.push({ workload: name, network: 'backend', ip, mac: '02:00:00:00:00:02', kind: 'veth', ifname: 'eth0', hostIfname: host, createdAt: 'x' });
  }
  return s;
}

function observed(over: Partial<Observed> = {}): Observed {
  return { host: [], namespaces: [], units: [], runVm: [], runDhcp: [], runDir: '/r/run/volt', ...over };
}

const link = (ifname: string, more: Partial<ScannedLink> = {}): ScannedLink => ({ ifname, addresses: [], ...more });
const ns = (workload: string, links: ScannedLink[]): Observed['namespaces'][number] => ({ workload, nsFile: `/run/netns/${workload}`, links });
const keys = (ls: Leftover[]): string[] => ls.map((l) => `${l.kind} ${l.object}`);

test('host links: only unowned links recognisable as volt\'s (alias, vh/tap names, a volt unit) are orphans', (t) => {
  const s = state();
  const vm: VmRecord = { type: 'vm', name: 'vm1', uuid: UUID, config: {}, nics: [], createdAt: 'x' };
  vm.runtime = { pid: 1, startedAt: 'x', accel: 'tcg', accelReason: '', qmpSocket: '', serialLog: '', qemuLog: '', nics: [{ id: 'eth0', ifname: 'tap-0b6c1f0001', driver: 'direct-tap', queues: 1, mac: 'x', mtu: 1500, vhost: { on: false, reason: '' } }] };
  s.workloads.vm1 = vm;
  const host = [
    link('volt-backend', { kind: 'bridge', alias: 'volt:backend' }),
    link('vh00000000aa', { kind: 'veth', master: 'volt-backend' }),
    link('vh0123456789', { kind: 'veth', master: 'volt-backend' }),
    link('vhfeedfeed00', { kind: 'veth', alias: 'volt:backend/x' }),
    link('vh0123456789x', { kind: 'veth' }),
    link('vh0000000000', { kind: 'bridge' }),
    link('tap-0b6c1f0001', { kind: 'tun', master: 'volt-backend' }),
    link('tap-abcdef0123', { kind: 'tun' }),
    link('volt-old', { kind: 'bridge', alias: 'volt:old' }),
    link('volt-nd', { kind: 'bridge' }),
    link('myveth0', { kind: 'veth', master: 'volt-backend' }),
    link('br-user', { kind: 'bridge' }),
    link('hx1', { kind: 'veth', master: 'volt-backend' }),
    link('other', { kind: 'veth', alias: 'my own alias' }),
  ];
  const units = [{ dir: '/r/etc/systemd/network', names: ['10-volt-volt-backend.netdev', '10-volt-volt-nd.netdev'] }];
  const found = classify(s, observed({ host, units }));
  t.deepEqual(keys(found.filter((f) => f.kind === 'orphan-link')), [
    'orphan-link tap-abcdef0123',
    'orphan-link vh0123456789',
    'orphan-link vhfeedfeed00',
    'orphan-link volt-nd',
    'orphan-link volt-old',
  ]);
  const vh = found.find((f) => f.object === 'vh0123456789')!;
  t.regex(vh.detail, /veth vh0123456789 on bridge volt-backend in the host: its name is that of a volt veth host end/);
  t.deepEqual(vh.fixes, [{ op: 'link', ifname: 'vh0123456789' }]);
  t.regex(found.find((f) => f.object === 'volt-nd')!.detail, /networkd unit 10-volt-volt-nd\.netdev defines it/);
  // The unit of a network that is not in state is an orphan too; the backend's is not.
  t.deepEqual(keys(found.filter((f) => f.kind === 'orphan-unit')), ['orphan-unit /r/etc/systemd/network/10-volt-volt-nd.netdev']);
});

test('workload namespaces: a volt link no attachment owns, addresses no attachment owns; foreign links untouched', (t) => {
  const found = classify(
    state(),
    observed({
      namespaces: [
        ns('web', [
          link('lo', { addresses: ['127.0.0.1/8'] }),
          link('eth0', { kind: 'veth', alias: 'volt:backend/web', addresses: ['10.30.0.10/24', '10.30.0.77/24'] }),
          link('eth1', { kind: 'veth', alias: 'volt:internal/web', addresses: ['10.50.0.100/24'] }),
          link('user0', { kind: 'veth', addresses: ['10.30.0.200/32', '192.0.2.5/24'] }),
        ]),
        // Attachments own their link by name even without the alias (made by an older volt).
        ns('api', [link('eth0', { kind: 'veth', addresses: ['10.30.0.11/24', '10.30.0.78/24'] })]),
      ],
    }),
  );
  t.deepEqual(keys(found), ['orphan-link web:eth1', 'orphan-address api:eth0:10.30.0.78/24', 'orphan-address web:eth0:10.30.0.77/24']);
  const stray = found.find((f) => f.object === 'web:eth0:10.30.0.77/24')!;
  t.regex(stray.detail, /state records 10\.30\.0\.10 for it \(network "backend"\)/);
  t.deepEqual(stray.fixes, [{ op: 'addr', nsFile: '/run/netns/web', ifname: 'eth0', address: '10.30.0.77/24' }]);
  t.deepEqual(found.find((f) => f.object === 'web:eth1')!.fixes, [{ op: 'link', nsFile: '/run/netns/web', ifname: 'eth1' }]);
});

test('duplicate addresses: the holder state records keeps it, volt\'s other holders lose it, a foreign holder is reported only', (t) => {
  const found = classify(
    state(),
    observed({
      namespaces: [
        ns('web', [link('eth0', { alias: 'volt:backend/web', addresses: ['10.30.0.10/24', '10.30.0.11/24'] }), link('user0', { addresses: ['10.30.0.1/32'] })]),
        ns('api', [link('eth0', { alias: 'volt:backend/api', addresses: ['10.30.0.11/24'] })]),
      ],
    }),
  );
  t.deepEqual(keys(found), ['duplicate-address 10.30.0.1', 'duplicate-address 10.30.0.11'], 'one finding per address, not also an orphan-address');
  const dup = found.find((f) => f.object === '10.30.0.11')!;
  t.is(dup.detail, '10.30.0.11 is held by workload api eth0 (recorded in state) and workload web eth0 (not in state)');
  t.deepEqual(dup.fixes, [{ op: 'addr', nsFile: '/run/netns/web', ifname: 'eth0', address: '10.30.0.11/24' }]);
  const gw = found.find((f) => f.object === '10.30.0.1')!;
  t.regex(gw.detail, /bridge volt-backend \(recorded in state\) and workload web user0 \(not in state, not volt's\); volt does not touch links that are not its own: remove it by hand \(ip addr del 10\.30\.0\.1\/32 dev user0\)/);
  t.deepEqual(gw.fixes, []);
});

test('units and runtime files: volt\'s names without a network, VLAN or running VM; foreign files ignored', (t) => {
  const s = state();
  const vm: VmRecord = { type: 'vm', name: 'vm1', uuid: UUID, config: {}, nics: [], createdAt: 'x' };
  vm.runtime = { pid: 1, startedAt: 'x', accel: 'tcg', accelReason: '', qmpSocket: '', serialLog: '', qemuLog: '', nics: [{ id: 'eth0', ifname: 'tap-0b6c1f0001', driver: 'networkd-tap', queues: 1, mac: 'x', mtu: 1500, vhost: { on: false, reason: '' } }] };
  s.workloads.vm1 = vm;
  s.vlans['eth0.5'] = { name: 'eth0.5', parent: 'eth0', id: 5, createdAt: 'x' };
  const units = [
    {
      dir: '/e',
      names: [
        '10-volt-volt-backend.netdev',
        '10-volt-volt-backend.network',
        '10-volt-volt-gone.network',
        '10-volt-vlan-eth0.5.netdev',
        '10-volt-vlan-eth0.6.netdev',
        '20-eth0.network.d/50-volt-vlan-eth0.5.conf',
        '20-eth0.network.d/50-volt-vlan-eth0.6.conf',
        '20-user.network',
        '20-eth0.network.d/override.conf',
      ],
    },
    {
      dir: '/run',
      names: [
        '10-volt-volt-backend.network.d/50-volt-dhcp.conf',
        '10-volt-volt-gone.network.d/50-volt-dhcp.conf',
        `50-vm-${UUID}-eth0.netdev`,
        `50-vm-${UUID}-eth1.netdev`,
        '50-vm-11111111-2222-3333-4444-555555555555-eth0.network',
      ],
    },
  ];
  const found = classify(s, observed({ units, runVm: ['vm1', 'ghost'], runDhcp: ['volt-backend', 'volt-gone'] }));
  t.deepEqual(keys(found), [
    'orphan-unit /e/10-volt-vlan-eth0.6.netdev',
    'orphan-unit /e/10-volt-volt-gone.network',
    'orphan-unit /e/20-eth0.network.d/50-volt-vlan-eth0.6.conf',
    'orphan-unit /run/10-volt-volt-gone.network.d/50-volt-dhcp.conf',
    `orphan-unit /run/50-vm-${UUID}-eth1.netdev`,
    'orphan-unit /run/50-vm-11111111-2222-3333-4444-555555555555-eth0.network',
    'orphan-file /r/run/volt/vm/ghost',
    'orphan-file /r/run/volt/dhcp/volt-gone',
  ]);
  t.regex(found[0]!.detail, /no VLAN "eth0\.6" in state/);
  t.deepEqual(found[0]!.fixes, [{ op: 'file', path: '/e/10-volt-vlan-eth0.6.netdev', unit: true }]);
});

test('nothing volt made and state does not own: no findings', (t) => {
  const found = classify(
    state(),
    observed({
      host: [link('volt-backend', { kind: 'bridge', alias: 'volt:backend' }), link('vh00000000aa', { kind: 'veth' }), link('vh00000000bb', { kind: 'veth' })],
      namespaces: [ns('web', [link('eth0', { alias: 'volt:backend/web', addresses: ['10.30.0.10/24'] })]), ns('api', [link('eth0', { addresses: ['10.30.0.11/24'] })])],
      units: [{ dir: '/e', names: ['10-volt-volt-backend.netdev', '10-volt-volt-backend.network'] }],
      runDhcp: ['volt-backend'],
    }),
  );
  t.deepEqual(found, []);
});

test('parseScan reads kind, master, alias and global IPv4 addresses of ip -j -d addr show', (t) => {
  const json = JSON.stringify([
    { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
    {
      ifname: 'eth0',
      ifalias: 'volt:backend/web',
      master: 'x',
      linkinfo: { info_kind: 'veth' },
      addr_info: [
        { family: 'inet', local: '10.30.0.10', prefixlen: 24, scope: 'global' },
        { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
      ],
    },
  ]);
  t.deepEqual(parseScan(json), [
    { ifname: 'lo', kind: undefined, master: undefined, alias: undefined, addresses: [] },
    { ifname: 'eth0', kind: 'veth', master: 'x', alias: 'volt:backend/web', addresses: ['10.30.0.10/24'] },
  ]);
});

test('two records of one namespace: the links either record\'s attachments name are owned', (t) => {
  const s = state();
  s.attachments.push({ workload: 'api', network: 'backend', ip: '10.30.0.12', mac: '02:00:00:00:00:03', kind: 'veth', ifname: 'eth1', hostIfname: 'vh00000000cc', createdAt: 'x' });
  const shared = { ...ns('web', [link('eth0', { alias: 'volt:backend/web', addresses: ['10.30.0.10/24'] }), link('eth1', { alias: 'volt:backend/api', addresses: ['10.30.0.12/24'] })]), also: ['api'] };
  t.deepEqual(classify(s, observed({ namespaces: [shared] })), []);
  t.deepEqual(keys(classify(s, observed({ namespaces: [{ ...shared, also: undefined }] }))), ['orphan-link web:eth1']);
});

test('IPv6: an address inside a volt prefix that the attachment does not record is an orphan; recorded, foreign-prefix and link-local ones are not', (t) => {
  const s = state();
  s.networks.backend = { ...s.networks.backend!, subnet6: 'fd00:30::/64', gateway6: 'fd00:30::1' };
  s.attachments[0]!.ip6 = 'fd00:30::a';
  const eth0 = (addresses6: string[]): ScannedLink => link('eth0', { kind: 'veth', alias: 'volt:backend/web', addresses: ['10.30.0.10/24'], addresses6 });
  // The kernel's spelling is compared by value: fd00:30:0::a is the recorded fd00:30::a.
  t.deepEqual(keys(classify(s, observed({ namespaces: [ns('web', [eth0(['fd00:30:0::a/64', 'fd00:99::5/64'])])] }))), []);
  const found = classify(s, observed({ namespaces: [ns('web', [eth0(['fd00:30::a/64', 'fd00:30::77/64'])])] }));
  t.deepEqual(keys(found), ['orphan-address web:eth0:fd00:30::77/64']);
  t.regex(found[0]!.detail, /state records fd00:30::a for it/);
  t.deepEqual(found[0]!.fixes, [{ op: 'addr', nsFile: '/run/netns/web', ifname: 'eth0', address: 'fd00:30::77/64' }]);
  // The gateway's v6 address inside a workload is a duplicate of the bridge's.
  const dup = classify(s, observed({ namespaces: [ns('api', [link('eth0', { kind: 'veth', alias: 'volt:backend/api', addresses: ['10.30.0.11/24'], addresses6: ['fd00:30::1/64'] })])] }));
  t.deepEqual(keys(dup), ['duplicate-address fd00:30::1']);
  // parseScan keeps global IPv6 addresses apart from IPv4 and drops link-local ones.
  const scanned = parseScan(JSON.stringify([{ ifname: 'eth0', addr_info: [{ family: 'inet', local: '10.30.0.10', prefixlen: 24, scope: 'global' }, { family: 'inet6', local: 'fd00:30::a', prefixlen: 64, scope: 'global' }, { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' }] }]));
  t.deepEqual([scanned[0]!.addresses, scanned[0]!.addresses6], [['10.30.0.10/24'], ['fd00:30::a/64']]);
});
