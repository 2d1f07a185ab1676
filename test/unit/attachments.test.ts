import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { voltPaths } from '@volt/sdk';
import { StateStore } from '@volt/core/dist/state/store';
import { defaultConfig } from '@volt/core/dist/config/defaults';
import type { BridgeDriver, BridgeSpec, ContainerPortSpec } from '@volt/sdk';
import type { FirewallDriver } from '@volt/sdk';
import type { KernelProbes } from '@volt/core/dist/services/attachments/attach-probes';
import { AttachmentPlanner, tapName, vethHostName } from '@volt/core/dist/services/attachments/attach-plan';
import { AttachmentExecutor, containerPorts, type AttachmentListener, type VmPorts } from '@volt/core/dist/services/attachments/attach-exec';
import { WorkloadService } from '@volt/core/dist/services/attachments/workload-service';
import { configureVethPeer, setupVethPort, teardownVethPort } from '@volt/sdk/kernel';
import { hostPolicyOf } from '@volt/core/dist/services/attachments/plans';
import { generateMac } from '@volt/core/dist/services/attachments/mac';
import type { AttachmentRecord, NetworkRecord, PendingRecord, VmRecord, VoltState } from '@volt/core/dist/state/types';

// The attachment planner and executor against fake drivers and fake kernel probes: no kernel is touched.

const net: NetworkRecord = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', mtu: 1450, nat: true, mac: '02:00:00:00:00:01', isDefault: false, createdAt: 'x' };

interface Fakes {
  log: string[];
  /** Calls that throw: "setupContainerPort", "configureContainerPort", "listener:dns", "leases"… */
  failing: Set<string>;
  /** MACs the fake bridge's fdb knows. */
  fdb: Set<string>;
  /** Links inside namespaces by namespace file. */
  links: Map<string, string[]>;
  running: Set<string>;
  specs: ContainerPortSpec[];
  leaseStates: VoltState[];
}

function fakes(): Fakes {
  return { log: [], failing: new Set(), fdb: new Set(), links: new Map(), running: new Set(), specs: [], leaseStates: [] };
}

function probes(f: Fakes): KernelProbes {
  return {
    nsAlive: (p) => !p.includes('gone'),
    nspawnLeader: async () => undefined,
    linkNamesIn: async (ns) => f.links.get(ns) ?? ['lo'],
    linkKind: async () => 'bridge',
    macOnBridge: async (_b, mac) => f.fdb.has(mac),
    hostRoutes: async () => [],
    hostAddresses: async () => [],
  };
}

function bridge(f: Fakes): BridgeDriver {
  const call = (name: string) => {
    f.log.push(name);
    if (f.failing.has(name)) throw new Error(`${name} failed`);
  };
  return {
    name: 'fake',
    preference: 0,
    fallback: true,
    description: 'fake',
    available: async () => ({ ok: true, reason: 'fake' }),
    setupBridge: async (_s: BridgeSpec) => call('setupBridge'),
    teardownBridge: async () => call('teardownBridge'),
    inspectBridge: async () => ({ ifname: 'x', exists: true, up: true, addresses: [], ports: [] }),
    inspectBridges: async () => [],
    setupContainerPort: async (s) => {
      f.specs.push(s);
      call('setupContainerPort');
    },
    configureContainerPort: async () => call('configureContainerPort'),
    teardownContainerPort: async (s) => call(`teardownContainerPort ${s.hostIfname}`),
  };
}

function firewall(f: Fakes): FirewallDriver {
  const call = async (name: string) => void f.log.push(name);
  return {
    name: 'fake',
    preference: 0,
    fallback: true,
    description: 'fake',
    available: async () => ({ ok: true, reason: 'fake' }),
    setupBase: () => call('setupBase'),
    teardownBase: () => call('teardownBase'),
    setupNetwork: () => call('setupNetwork'),
    teardownNetwork: () => call('teardownNetwork'),
    check: async () => [],
  } as FirewallDriver;
}

function vmPorts(f: Fakes): VmPorts {
  const call = (name: string) => {
    f.log.push(name);
    if (f.failing.has(name)) throw new Error(`${name} failed`);
  };
  return {
    running: (vm) => f.running.has(vm.name),
    attach: async (vm, a, br) => call(`attach ${a.hostIfname} ${br}`),
    detach: async (vm, a) => call(`detach ${a.hostIfname}`),
    syncLeases: async (state) => {
      f.leaseStates.push(structuredClone(state));
      call('leases');
    },
    removeTaps: async (vm, taps) => call(`removeTaps ${taps.map((x) => x.ifname).join(',')}`),
    killQemu: async (uuid) => call(`killQemu ${uuid}`),
  };
}

function listener(f: Fakes, name: string): AttachmentListener {
  return async (_state, change) => {
    const what = `listener:${name} +${change.added.map((a) => a.workload).join(',')} -${change.removed.map((a) => a.workload).join(',')}`;
    f.log.push(what);
    if (f.failing.has(`listener:${name}`) && change.added.length > 0) throw new Error(`${name} failed`);
  };
}

function setup(t: ExecutionContext, f: Fakes): { store: StateStore; ws: WorkloadService; file: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-attach-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const paths = voltPaths({ VOLT_ROOT: root });
  const store = new StateStore(paths);
  const config = defaultConfig();
  const executor = new AttachmentExecutor({
    store,
    bridge: async () => bridge(f),
    firewall: async () => firewall(f),
    warn: (m) => f.log.push(`warn: ${m}`),
    hostPolicy: hostPolicyOf(config),
    probes: probes(f),
    vmPorts: vmPorts(f),
    listeners: [listener(f, 'dns'), listener(f, 'firewall')],
  });
  const ws = new WorkloadService({ config, store, probes: probes(f), executor, warn: (m) => f.log.push(`warn: ${m}`), notice: () => undefined, ensureDefault: async () => undefined });
  return { store, ws, file: paths.stateFile };
}

async function seedState(store: StateStore, f: (s: VoltState) => void): Promise<void> {
  await store.transaction(async (s) => f(s));
}

/** state.json with the pending records of journal.json next to it (store.ts keeps them apart). */
const onDisk = (file: string): VoltState => {
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as VoltState;
  const j = path.join(path.dirname(file), 'journal.json');
  if (fs.existsSync(j)) s.pending = (JSON.parse(fs.readFileSync(j, 'utf8')) as { pending: VoltState['pending'] }).pending;
  return s;
};
const withNet = (s: VoltState): void => void (s.networks.backend = structuredClone(net));

function vm(name: string, nics: VmRecord['nics'], runtime = false): VmRecord {
  return {
    type: 'vm',
    name,
    uuid: '12345678-aaaa-bbbb-cccc-1234567890ab',
    config: {},
    nics,
    createdAt: 'x',
    ...(runtime ? { runtime: { pid: 1, startedAt: 'x', accel: 'tcg' as const, accelReason: 'x', qmpSocket: 'q', serialLog: 's', qemuLog: 'l', nics: nics.map((n) => ({ id: n.id, ifname: tapName('12345678-aaaa-bbbb-cccc-1234567890ab', n.id), driver: 'fake', queues: 1, mac: n.mac ?? '52:54:00:00:00:09', mtu: 1450, vhost: { on: false, reason: 'x' } })) } } : {}),
  };
}

// The planner.

test('planner: a container gets the first container address, eth0, its stable MAC, the host veth name and the default route', async (t) => {
  const f = fakes();
  const state: VoltState = { ...emptyish(), networks: { backend: structuredClone(net) } };
  const notes: string[] = [];
  const p = await new AttachmentPlanner(probes(f)).container(state, { type: 'container', name: 'api', source: { kind: 'netns', name: 'api' }, registered: false, createdAt: 'x' }, net, {}, 'connect', notes);
  t.is(p.attachment.ip, '10.30.0.100');
  t.is(p.attachment.ifname, 'eth0');
  t.is(p.attachment.mac, generateMac('container', 'api', 'backend'));
  t.is(p.attachment.hostIfname, vethHostName('api', 'backend'));
  t.is(p.attachment.kind, 'veth');
  t.true(p.defaultRoute);
  t.deepEqual(notes, []);
});

test('planner: pending reservations and the bridge fdb count as taken; names inside the namespace are skipped', async (t) => {
  const f = fakes();
  f.fdb.add(generateMac('container', 'api', 'backend'));
  f.links.set('/run/netns/api', ['lo', 'eth0']);
  const pending: PendingRecord = {
    id: 'p1',
    op: 'connect',
    object: 'other on backend',
    pid: 1,
    startedAt: 'x',
    steps: [],
    attachment: { workload: 'other', network: 'backend', ip: '10.30.0.100', mac: '02:aa:00:00:00:01', kind: 'veth', ifname: 'eth0', hostIfname: 'vh0', createdAt: 'x' },
  };
  const state: VoltState = { ...emptyish(), networks: { backend: structuredClone(net) }, pending: [pending] };
  const notes: string[] = [];
  const p = await new AttachmentPlanner(probes(f)).container(state, { type: 'container', name: 'api', source: { kind: 'netns', name: 'api' }, registered: false, createdAt: 'x' }, net, {}, 'connect', notes);
  t.is(p.attachment.ip, '10.30.0.101', 'the pending connect keeps its address');
  t.is(p.attachment.ifname, 'eth1', 'eth0 exists inside the namespace');
  t.is(p.attachment.mac, generateMac('container', 'api', 'backend', 1));
  t.regex(notes[0] ?? '', /already used on bridge volt-backend; regenerated/);
});

test('planner: a VM NIC gets an address from the VM range and the TAP name of its UUID and NIC id', async (t) => {
  const f = fakes();
  const v = vm('web', [{ id: 'eth0', network: 'backend', vhost: true, queues: 1 }]);
  const state: VoltState = { ...emptyish(), networks: { backend: structuredClone(net) }, workloads: { web: v } };
  const a = await new AttachmentPlanner(probes(f)).vm(state, v, v.nics[0]!, net, {}, 'connect', []);
  t.is(a.ip, '10.30.0.2');
  t.is(a.kind, 'tap');
  t.is(a.hostIfname, tapName(v.uuid, 'eth0'));
  t.is(a.mac, generateMac('vm', 'web', 'backend'));
});

// The executor, through the workload service.

test('connect: the pending record first, then the port through the bridge contract, the result, and the listeners last', async (t) => {
  const f = fakes();
  const { store, ws, file } = setup(t, f);
  await seedState(store, withNet);
  const r = await ws.connect({ network: 'backend', workload: 'api' });
  t.deepEqual(f.log, ['setupContainerPort', 'configureContainerPort', 'listener:dns +api -', 'listener:firewall +api -']);
  t.deepEqual(f.specs[0], {
    network: 'backend',
    workload: 'api',
    bridge: 'volt-backend',
    hostIfname: vethHostName('api', 'backend'),
    ifname: 'eth0',
    netns: '/run/netns/api',
    mac: r.attachment.mac,
    mtu: 1450,
    address: '10.30.0.100/24',
    defaultGateway: '10.30.0.1',
  });
  const s = onDisk(file);
  t.deepEqual(s.attachments.map((a) => [a.workload, a.ip]), [['api', '10.30.0.100']]);
  t.is(s.pending, undefined);
});

test('connect: a step failing mid-way undoes the done ones, tells no listener, and leaves state as it was', async (t) => {
  const f = fakes();
  f.failing.add('configureContainerPort');
  const { store, ws, file } = setup(t, f);
  await seedState(store, withNet);
  const before = onDisk(file);
  const err = await t.throwsAsync(ws.connect({ network: 'backend', workload: 'api' }));
  t.is(err?.message, 'configureContainerPort failed');
  t.deepEqual(f.log, ['setupContainerPort', 'configureContainerPort', `teardownContainerPort ${vethHostName('api', 'backend')}`]);
  t.deepEqual(onDisk(file), before, 'no attachment, no pending record');
});

test('connect: a failing listener undoes the listeners before it (inverse change) and then the kernel steps', async (t) => {
  const f = fakes();
  f.failing.add('listener:firewall');
  const { store, ws, file } = setup(t, f);
  await seedState(store, withNet);
  await t.throwsAsync(ws.connect({ network: 'backend', workload: 'api' }), { message: 'firewall failed' });
  t.deepEqual(f.log, [
    'setupContainerPort',
    'configureContainerPort',
    'listener:dns +api -',
    'listener:firewall +api -',
    'listener:dns + -api',
    `teardownContainerPort ${vethHostName('api', 'backend')}`,
  ]);
  const s = onDisk(file);
  t.deepEqual(s.attachments, []);
  t.is(s.pending, undefined);
});

test('disconnect: the port goes through the bridge contract, then the listeners hear of the removal', async (t) => {
  const f = fakes();
  const { store, ws, file } = setup(t, f);
  await seedState(store, withNet);
  await ws.connect({ network: 'backend', workload: 'api' });
  f.log.length = 0;
  await ws.disconnect('api', 'backend');
  t.deepEqual(f.log, [`teardownContainerPort ${vethHostName('api', 'backend')}`, 'listener:dns + -api', 'listener:firewall + -api']);
  const s = onDisk(file);
  t.deepEqual(s.attachments, []);
  t.false('api' in s.workloads, 'a container found by name is forgotten with its last network');
});

test('settlement: an interrupted connect (veth done) is rolled back through the bridge contract by the next connect', async (t) => {
  const f = fakes();
  const { store, ws, file } = setup(t, f);
  const a: AttachmentRecord = { workload: 'k1', network: 'backend', ip: '10.30.0.100', mac: '02:00:00:00:00:07', kind: 'veth', ifname: 'eth0', hostIfname: 'vhdead', createdAt: 'x' };
  await seedState(store, (s) => {
    withNet(s);
    s.pending = [{ id: 'p1', op: 'connect', object: 'k1 on backend', pid: 999999, startedAt: 'x', steps: [{ name: 'veth', done: true }, { name: 'address', done: false }], attachment: a, nsFile: '/run/netns/k1', defaultRoute: true, networks: [structuredClone(net)] }];
  });
  const r = await ws.connect({ network: 'backend', workload: 'api' });
  t.is(f.log[0], 'teardownContainerPort vhdead');
  t.is(r.attachment.ip, '10.30.0.100', 'the released address is handed out again');
  t.is(onDisk(file).pending, undefined);
});

test('settlement: an interrupted connect with every step done is rolled forward, and the listeners run', async (t) => {
  const f = fakes();
  const { store, ws, file } = setup(t, f);
  const a: AttachmentRecord = { workload: 'k1', network: 'backend', ip: '10.30.0.100', mac: '02:00:00:00:00:07', kind: 'veth', ifname: 'eth0', hostIfname: 'vhdone', createdAt: 'x' };
  await seedState(store, (s) => {
    withNet(s);
    s.pending = [{ id: 'p1', op: 'connect', object: 'k1 on backend', pid: 999999, startedAt: 'x', steps: [{ name: 'veth', done: true }, { name: 'address', done: true }], attachment: a, workload: { type: 'container', name: 'k1', source: { kind: 'netns', name: 'k1' }, registered: false, createdAt: 'x' }, nsFile: '/run/netns/k1', defaultRoute: true, networks: [structuredClone(net)] }];
  });
  await ws.connect({ network: 'backend', workload: 'api' });
  t.deepEqual(f.log.slice(0, 2), ['listener:dns +k1 -', 'listener:firewall +k1 -']);
  t.deepEqual(onDisk(file).attachments.map((x) => x.workload).sort(), ['api', 'k1']);
});

test('VM connect of a running VM: journaled vm-connect plugs the TAP, serves the lease, then the listeners', async (t) => {
  const f = fakes();
  const { store, ws, file } = setup(t, f);
  const v = vm('web', [{ id: 'eth0', vhost: true, queues: 1, mac: '52:54:00:00:00:09' }], true);
  f.running.add('web');
  await seedState(store, (s) => {
    withNet(s);
    s.workloads.web = v;
  });
  const r = await ws.connect({ network: 'backend', workload: 'web' });
  const tap = tapName(v.uuid, 'eth0');
  t.deepEqual(f.log, [`attach ${tap} volt-backend`, 'leases', 'listener:dns +web -', 'listener:firewall +web -']);
  t.true(f.leaseStates[0]!.attachments.some((a) => a.workload === 'web'), 'the lease is served with the new attachment');
  t.is(r.attachment.mac, '52:54:00:00:00:09', 'the running NIC keeps its MAC');
  const s = onDisk(file);
  t.is(s.pending, undefined);
  const nic = (s.workloads.web as VmRecord).nics[0]!;
  t.is(nic.network, 'backend');
  t.is(nic.ip, r.attachment.ip);
});

test('VM connect: a lease failure unplugs the TAP again and leaves the VM as it was', async (t) => {
  const f = fakes();
  f.failing.add('leases');
  const { store, ws, file } = setup(t, f);
  const v = vm('web', [{ id: 'eth0', vhost: true, queues: 1, mac: '52:54:00:00:00:09' }], true);
  f.running.add('web');
  await seedState(store, (s) => {
    withNet(s);
    s.workloads.web = v;
  });
  const before = onDisk(file);
  await t.throwsAsync(ws.connect({ network: 'backend', workload: 'web' }), { message: 'leases failed' });
  const tap = tapName(v.uuid, 'eth0');
  t.deepEqual(f.log, [`attach ${tap} volt-backend`, 'leases', `detach ${tap}`]);
  t.deepEqual(onDisk(file), before);
});

test('VM connect of a stopped VM with no free NIC adds the NIC with the result only', async (t) => {
  const f = fakes();
  const { store, ws, file } = setup(t, f);
  await seedState(store, (s) => {
    withNet(s);
    s.networks.other = { ...structuredClone(net), name: 'other', bridge: 'volt-other', subnet: '10.31.0.0/24', gateway: '10.31.0.1' };
    s.workloads.web = vm('web', [{ id: 'eth0', network: 'other', vhost: true, queues: 1 }]);
    s.attachments.push({ workload: 'web', network: 'other', ip: '10.31.0.2', mac: '52:54:00:00:00:01', kind: 'tap', ifname: 'eth0', hostIfname: 'tap-x', createdAt: 'x' });
  });
  const r = await ws.connect({ network: 'backend', workload: 'web' });
  t.regex(r.notes.join('\n'), /is not running: NIC eth1 joins backend when it starts/);
  t.deepEqual(f.log, ['leases', 'listener:dns +web -', 'listener:firewall +web -'], 'no TAP is touched');
  t.deepEqual((onDisk(file).workloads.web as VmRecord).nics.map((n) => [n.id, n.network]), [['eth0', 'other'], ['eth1', 'backend']]);
});

test('VM disconnect: journaled vm-disconnect unplugs the TAP and drops the lease; the NIC stays off the network', async (t) => {
  const f = fakes();
  const { store, ws, file } = setup(t, f);
  f.running.add('web');
  await seedState(store, (s) => {
    withNet(s);
    s.workloads.web = vm('web', [{ id: 'eth0', vhost: true, queues: 1, mac: '52:54:00:00:00:09' }], true);
  });
  await ws.connect({ network: 'backend', workload: 'web' });
  f.log.length = 0;
  f.leaseStates.length = 0;
  await ws.disconnect('web');
  const tap = tapName('12345678-aaaa-bbbb-cccc-1234567890ab', 'eth0');
  t.deepEqual(f.log, [`detach ${tap}`, 'leases', 'listener:dns + -web', 'listener:firewall + -web']);
  t.false(f.leaseStates[0]!.attachments.some((a) => a.workload === 'web'));
  const s = onDisk(file);
  t.deepEqual(s.attachments, []);
  t.is((s.workloads.web as VmRecord).nics[0]!.network, undefined);
  t.is((s.workloads.web as VmRecord).nics[0]!.mac, '52:54:00:00:00:09');
});

test('settlement: an interrupted vm start is rolled back in reverse through the VM ports: QEMU, leases, TAPs; its address is released', async (t) => {
  const f = fakes();
  const { store, ws, file } = setup(t, f);
  const v = vm('web', [{ id: 'eth0', network: 'backend', vhost: true, queues: 1 }]);
  const tap = tapName(v.uuid, 'eth0');
  const a: AttachmentRecord = { workload: 'web', network: 'backend', ip: '10.30.0.2', mac: '52:54:00:00:00:05', kind: 'tap', ifname: 'eth0', hostIfname: tap, createdAt: 'x' };
  await seedState(store, (s) => {
    withNet(s);
    s.workloads.web = v;
    s.pending = [
      {
        id: 'p1',
        op: 'vm-start',
        object: 'VM web',
        pid: 999999,
        startedAt: 'x',
        steps: [{ name: 'nics', done: true }, { name: 'leases', done: true }, { name: 'qemu', done: false }],
        vm: 'web',
        vmUuid: v.uuid,
        attachments: [a],
        vmNics: [{ ...v.nics[0]!, mac: a.mac, ip: a.ip }],
        vmStart: { taps: [{ id: 'eth0', ifname: tap, driver: 'direct-tap' }] },
      },
    ];
  });
  // While pending, its address is taken.
  t.is(onDisk(file).pending?.length, 1);
  await ws.connect({ network: 'backend', workload: 'api' });
  t.deepEqual(f.log.slice(0, 3), [`killQemu ${v.uuid}`, 'leases', `removeTaps ${tap}`]);
  t.false(f.leaseStates[0]!.attachments.some((x) => x.workload === 'web'), 'the leases are served as before the start');
  const s = onDisk(file);
  t.is(s.pending, undefined);
  t.false(s.attachments.some((x) => x.workload === 'web'));
  t.is((s.workloads.web as VmRecord).runtime, undefined);
});

test('a bridge driver without container-port methods gets core\'s Linux veth helpers', (t) => {
  const b = bridge(fakes());
  delete b.setupContainerPort;
  const ports = containerPorts(b);
  t.is(ports.setupContainerPort, setupVethPort);
  t.is(ports.configureContainerPort, configureVethPeer);
  t.is(ports.teardownContainerPort, teardownVethPort);
});

test('bad input changes nothing: an address outside the subnet is refused before any driver call', async (t) => {
  const f = fakes();
  const { store, ws, file } = setup(t, f);
  await seedState(store, withNet);
  const before = onDisk(file);
  await t.throwsAsync(ws.connect({ network: 'backend', workload: 'api', ip: '10.99.0.5' }), { message: /outside 10\.30\.0\.0\/24/ });
  t.deepEqual(f.log, []);
  t.deepEqual(onDisk(file), before);
});

function emptyish(): VoltState {
  return { schemaVersion: 1, networks: {}, workloads: {}, attachments: [], ingress: { routes: {} }, firewall: { rules: [] }, portForwards: [], policies: {}, vlans: {} };
}
