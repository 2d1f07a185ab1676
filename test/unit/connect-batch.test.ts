import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { voltPaths } from '@volt/sdk';
import type { BridgeDriver, ContainerPortSpec, FirewallDriver } from '@volt/sdk';
import { ContainerPortBatchError } from '@volt/sdk/kernel';
import { StateStore } from '@volt/core/dist/state/store';
import { defaultConfig } from '@volt/core/dist/config/defaults';
import type { KernelProbes } from '@volt/core/dist/services/attachments/attach-probes';
import { vethHostName } from '@volt/core/dist/services/attachments/attach-plan';
import { AttachmentExecutor, containerPortBatch, type AttachmentListener } from '@volt/core/dist/services/attachments/attach-exec';
import { WorkloadService } from '@volt/core/dist/services/attachments/workload-service';
import { hostPolicyOf } from '@volt/core/dist/services/attachments/plans';
import { pendingAttachments } from '@volt/core/dist/state/journal';
import type { NetworkRecord, PendingRecord, VoltState } from '@volt/core/dist/state/types';

// The batch connect (`volt net connect NET W1 … WN`) against fake drivers and probes: planning,
// one record, the kernel steps once for all, the listeners once, all or nothing, settlement.

const net: NetworkRecord = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', mtu: 1450, nat: true, mac: '02:00:00:00:00:01', isDefault: false, createdAt: 'x' };

interface Fakes {
  log: string[];
  /** "configure c2": that workload's call throws; "listener:firewall": that listener throws on an add. */
  failing: Set<string>;
  /** Journal records seen on disk while the kernel steps ran. */
  journals: PendingRecord[][];
  journalFile?: string;
}

function probes(): KernelProbes {
  return {
    nsAlive: (p) => !p.includes('gone'),
    nspawnLeader: async () => undefined,
    linkNamesIn: async () => ['lo'],
    linkKind: async (ifname) => (ifname.startsWith('volt-') ? 'bridge' : 'veth'),
    macOnBridge: async () => false,
    hostRoutes: async () => [],
    hostAddresses: async () => [],
  };
}

/** A bridge driver with the batch capability: one call per step for the whole batch. */
function batchBridge(f: Fakes): BridgeDriver {
  const seen = (): void => {
    if (f.journalFile && fs.existsSync(f.journalFile)) f.journals.push((JSON.parse(fs.readFileSync(f.journalFile, 'utf8')) as { pending: PendingRecord[] }).pending);
  };
  const failAt = (step: string, specs: readonly ContainerPortSpec[]): void => {
    const k = specs.findIndex((s) => f.failing.has(`${step} ${s.workload}`));
    if (k >= 0) throw new ContainerPortBatchError(`${step} ${specs[k]!.workload} failed`, k);
  };
  return {
    name: 'fake',
    preference: 0,
    fallback: true,
    description: 'fake',
    available: async () => ({ ok: true, reason: 'fake' }),
    setupBridge: async () => undefined,
    teardownBridge: async () => undefined,
    inspectBridge: async () => ({ ifname: 'x', exists: true, up: true, addresses: [], ports: [] }),
    inspectBridges: async () => [],
    setupContainerPorts: async (specs) => {
      seen();
      f.log.push(`setup ${specs.map((s) => s.workload).join(',')}`);
      failAt('setup', specs);
    },
    configureContainerPorts: async (specs) => {
      f.log.push(`configure ${specs.map((s) => s.workload).join(',')}`);
      failAt('configure', specs);
    },
    teardownContainerPorts: async (specs) => void f.log.push(`teardown ${specs.map((s) => s.workload).join(',')}`),
  };
}

function listener(f: Fakes, name: string): AttachmentListener {
  return async (_state, change) => {
    f.log.push(`listener:${name} +${change.added.map((a) => a.workload).join(',')} -${change.removed.map((a) => a.workload).join(',')}`);
    if (f.failing.has(`listener:${name}`) && change.added.length > 0) throw new Error(`${name} failed`);
  };
}

function setup(t: ExecutionContext, f: Fakes, driver: BridgeDriver = batchBridge(f)): { store: StateStore; ws: WorkloadService; executor: AttachmentExecutor; file: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-batch-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const paths = voltPaths({ VOLT_ROOT: root });
  f.journalFile = path.join(path.dirname(paths.stateFile), 'journal.json');
  const store = new StateStore(paths);
  const config = defaultConfig();
  const executor = new AttachmentExecutor({
    store,
    bridge: async () => driver,
    firewall: async () => ({}) as FirewallDriver,
    warn: (m) => f.log.push(`warn: ${m}`),
    hostPolicy: hostPolicyOf(config),
    probes: probes(),
    listeners: [listener(f, 'dns'), listener(f, 'firewall')],
  });
  const ws = new WorkloadService({ config, store, probes: probes(), executor, warn: (m) => f.log.push(`warn: ${m}`), notice: () => undefined, ensureDefault: async () => undefined });
  return { store, ws, executor, file: paths.stateFile };
}

const fakes = (): Fakes => ({ log: [], failing: new Set(), journals: [] });
const items = (...names: string[]) => names.map((workload) => ({ workload }));
const read = (file: string): string => fs.readFileSync(file, 'utf8');

async function seeded(store: StateStore): Promise<void> {
  await store.transaction(async (s) => {
    s.networks.backend = structuredClone(net);
    s.workloads.old = { type: 'container', name: 'old', source: { kind: 'netns', name: 'old' }, registered: true, createdAt: 'x' };
    s.attachments.push({ workload: 'old', network: 'backend', ip: '10.30.0.100', mac: '02:11:00:00:00:01', kind: 'veth', ifname: 'eth0', hostIfname: 'vhold', createdAt: 'x' });
  });
}

test('a batch: one record naming every reserved address, each kernel step once for all, the listeners once, results in order', async (t) => {
  const f = fakes();
  const { store, ws, file } = setup(t, f);
  await seeded(store);
  const r = await ws.connectMany('backend', items('c1', 'c2', 'c3'));
  t.deepEqual(r.attachments.map((a) => [a.workload, a.ip, a.ifname, a.hostIfname]), [
    ['c1', '10.30.0.101', 'eth0', vethHostName('c1', 'backend')],
    ['c2', '10.30.0.102', 'eth0', vethHostName('c2', 'backend')],
    ['c3', '10.30.0.103', 'eth0', vethHostName('c3', 'backend')],
  ]);
  t.is(new Set(r.attachments.map((a) => a.mac)).size, 3);
  t.deepEqual(f.log, ['setup c1,c2,c3', 'configure c1,c2,c3', 'listener:dns +c1,c2,c3 -', 'listener:firewall +c1,c2,c3 -']);
  // While the kernel worked, the journal held one connect-batch record with all three reservations.
  t.is(f.journals.length, 1);
  t.deepEqual(f.journals[0]!.map((p) => p.op), ['connect-batch']);
  t.deepEqual(f.journals[0]![0]!.connects!.map((c) => [c.attachment.ip, c.nsFile, c.defaultRoute]), [
    ['10.30.0.101', '/run/netns/c1', true],
    ['10.30.0.102', '/run/netns/c2', true],
    ['10.30.0.103', '/run/netns/c3', true],
  ]);
  t.deepEqual(f.journals[0]![0]!.steps.map((s) => s.name), ['veths', 'addresses']);
  const s = JSON.parse(read(file)) as VoltState;
  t.deepEqual(s.attachments.map((a) => a.workload), ['old', 'c1', 'c2', 'c3']);
  t.false(fs.existsSync(f.journalFile!), 'nothing pending');
});

test('a batch failing at workload k: every port torn down, no listener told, state byte-identical, the error names k of N', async (t) => {
  const f = fakes();
  f.failing.add('configure c2');
  const { store, ws, file } = setup(t, f);
  await seeded(store);
  const before = read(file);
  const err = await t.throwsAsync(ws.connectMany('backend', items('c1', 'c2', 'c3')));
  t.is(err?.message, 'connect 3 workloads to network "backend": workload 2 of 3 ("c2"): configure c2 failed');
  t.deepEqual(f.log, ['setup c1,c2,c3', 'configure c1,c2,c3', 'teardown c1,c2,c3']);
  t.is(read(file), before);
  t.false(fs.existsSync(f.journalFile!));
});

test('a batch whose veths step fails part way cleans up itself (the step is not done)', async (t) => {
  const f = fakes();
  f.failing.add('setup c3');
  const { store, ws, file } = setup(t, f);
  await seeded(store);
  const before = read(file);
  await t.throwsAsync(ws.connectMany('backend', items('c1', 'c2', 'c3')), { message: /workload 3 of 3 \("c3"\): setup c3 failed/ });
  // The ports before the failing one, and that one since the fake says it is a veth.
  t.deepEqual(f.log, ['setup c1,c2,c3', 'teardown c1,c2,c3']);
  t.is(read(file), before);
});

test('a failing listener in a batch undoes the listeners before it and every port', async (t) => {
  const f = fakes();
  f.failing.add('listener:firewall');
  const { store, ws, file } = setup(t, f);
  await seeded(store);
  const before = read(file);
  await t.throwsAsync(ws.connectMany('backend', items('c1', 'c2')), { message: 'connect 2 workloads to network "backend": firewall failed' });
  t.deepEqual(f.log, ['setup c1,c2', 'configure c1,c2', 'listener:dns +c1,c2 -', 'listener:firewall +c1,c2 -', 'listener:dns + -c1,c2', 'teardown c1,c2']);
  t.is(read(file), before);
});

test('refused before anything: a name twice, a VM, one already connected, an unknown one — naming workload k of N', async (t) => {
  const f = fakes();
  const { store, ws, file } = setup(t, f);
  await seeded(store);
  await store.transaction(async (s) => {
    s.workloads.vm1 = { type: 'vm', name: 'vm1', uuid: '12345678-aaaa-bbbb-cccc-1234567890ab', config: {}, nics: [], createdAt: 'x' } as unknown as VoltState['workloads'][string];
  });
  const before = read(file);
  await t.throwsAsync(ws.connectMany('backend', items('c1', 'c2', 'c1')), { message: /\(workload 3 of 3\): "c1" is named twice \(also workload 1\)/ });
  await t.throwsAsync(ws.connectMany('backend', items('c1', 'vm1')), { message: /\(workload 2 of 2\): "vm1" is a VM/ });
  await t.throwsAsync(ws.connectMany('backend', items('c1', 'old')), { message: /\(workload 2 of 2\): already connected/ });
  await t.throwsAsync(ws.connectMany('backend', items('c1', 'gone-one')), { message: /\(workload 2 of 2\): no workload named "gone-one"/ });
  t.deepEqual(f.log, []);
  t.is(read(file), before);
});

test('a batch of one is the plain connect (its record is a connect)', async (t) => {
  const f = fakes();
  const single: string[] = [];
  const driver = { ...batchBridge(f), setupContainerPort: async () => void single.push('setup'), configureContainerPort: async () => void single.push('configure'), teardownContainerPort: async () => undefined };
  const { store, ws } = setup(t, f, driver);
  await seeded(store);
  const r = await ws.connectMany('backend', items('c1'));
  t.is(r.attachments[0]!.ip, '10.30.0.101');
  t.deepEqual(single, ['setup', 'configure']);
});

test('without the batch capability the single-port methods run in turn, and a failure names its position', async (t) => {
  const calls: string[] = [];
  const driver = {
    setupContainerPort: async (s: ContainerPortSpec) => {
      calls.push(`setup ${s.workload}`);
      if (s.workload === 'b') throw new Error('no');
    },
    configureContainerPort: async () => undefined,
    teardownContainerPort: async (s: Pick<ContainerPortSpec, 'hostIfname'>) => void calls.push(`teardown ${s.hostIfname}`),
  } as unknown as BridgeDriver;
  const spec = (w: string) => ({ workload: w, hostIfname: `vh-${w}` }) as ContainerPortSpec;
  const err = await t.throwsAsync(containerPortBatch(driver).setupContainerPorts([spec('a'), spec('b'), spec('c')]));
  t.is((err as unknown as { index: number }).index, 1);
  t.deepEqual(calls, ['setup a', 'setup b']);
});

test('settlement: an interrupted batch is rolled back as a whole (every port torn down, addresses released) or, all steps done, forward with the listeners', async (t) => {
  for (const allDone of [false, true]) {
    const f = fakes();
    const { store, executor, file } = setup(t, f);
    await seeded(store);
    const w = (name: string) => ({ type: 'container' as const, name, source: { kind: 'netns' as const, name }, registered: false, createdAt: 'x' });
    const att = (name: string, ip: string) => ({ workload: name, network: 'backend', ip, mac: `02:22:00:00:00:0${ip.slice(-1)}`, kind: 'veth' as const, ifname: 'eth0', hostIfname: vethHostName(name, 'backend'), createdAt: 'x' });
    await store.transaction(async (s) => {
      s.pending = [
        {
          id: 'b1',
          op: 'connect-batch',
          object: '2 containers on backend (c1, c2)',
          pid: 999999,
          startedAt: 'x',
          steps: [
            { name: 'veths', done: true },
            { name: 'addresses', done: allDone },
          ],
          connects: [
            { attachment: att('c1', '10.30.0.101'), workload: w('c1'), nsFile: '/run/netns/c1', defaultRoute: true },
            { attachment: att('c2', '10.30.0.102'), workload: w('c2'), nsFile: '/run/netns/c2', defaultRoute: true },
          ],
          networks: [structuredClone(net)],
        },
      ];
      t.deepEqual(pendingAttachments(s).map((a) => a.ip), ['10.30.0.101', '10.30.0.102'], 'reserved while pending');
    });
    const settled = await store.transaction(async (s) => executor.settle(s));
    t.is(settled[0]!.action, allDone ? 'rolled forward' : 'rolled back');
    const s = JSON.parse(read(file)) as VoltState;
    if (allDone) {
      t.deepEqual(f.log, ['listener:dns +c1,c2 -', 'listener:firewall +c1,c2 -']);
      t.deepEqual(s.attachments.map((a) => a.workload), ['old', 'c1', 'c2']);
    } else {
      t.deepEqual(f.log, ['teardown c1,c2']);
      t.regex(settled[0]!.detail, /released 10\.30\.0\.101, 10\.30\.0\.102/);
      t.deepEqual(s.attachments.map((a) => a.workload), ['old']);
    }
    t.false(fs.existsSync(f.journalFile!));
  }
});
