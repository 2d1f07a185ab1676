import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { voltPaths } from '@volt/sdk';
import { StateStore } from '@volt/core/dist/state/store';
import type { BridgeDriver, VlanSpec } from '@volt/sdk';
import { journaledVlan, settleOwnPending, VLAN_OPS } from '@volt/core/dist/services/firewall/plans-firewall';
import type { NetworkRecord, PendingRecord, VlanRecord, VoltState } from '@volt/core/dist/state/types';

// The VLAN plans with a recording bridge driver (these kernels have no 802.1Q, so the e2e crash
// tests cannot make VLANs): what a settlement asks the driver to do, and what state it commits.

function store(t: { teardown(f: () => void): void }): { s: StateStore; file: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-plans-fw-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const paths = voltPaths({ VOLT_ROOT: root });
  return { s: new StateStore(paths), file: paths.stateFile };
}

interface Call {
  op: 'setup' | 'teardown';
  spec: VlanSpec;
}

function recorder(): { bridge: () => Promise<BridgeDriver>; calls: Call[] } {
  const calls: Call[] = [];
  const driver = {
    name: 'recording',
    vlanSupport: async () => ({ ok: true, reason: 'test' }),
    setupVlan: async (spec: VlanSpec) => void calls.push({ op: 'setup', spec }),
    teardownVlan: async (spec: VlanSpec) => void calls.push({ op: 'teardown', spec }),
    inspectVlans: async () => [],
  } as unknown as BridgeDriver;
  return { bridge: async () => driver, calls };
}

const net: NetworkRecord = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', mtu: 1500, nat: true, mac: '02:00:00:00:00:01', isDefault: false, createdAt: 'x' };
const vlan: VlanRecord = { name: 'eth1.100', parent: 'eth1', id: 100, network: 'backend', createdAt: 'x' };
/** state.json with the pending records of journal.json next to it (store.ts keeps them apart). */
const onDisk = (file: string): VoltState => {
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as VoltState;
  const j = path.join(path.dirname(file), 'journal.json');
  if (fs.existsSync(j)) s.pending = (JSON.parse(fs.readFileSync(j, 'utf8')) as { pending: VoltState['pending'] }).pending;
  return s;
};

function pending(op: PendingRecord['op'], v: PendingRecord['vlan'], done: boolean): PendingRecord {
  return { id: 'abc', op, object: `VLAN ${v!.name}`, pid: 999_999_999, startedAt: 'x', steps: [{ name: 'link', done }], vlan: v };
}

const cases: { title: string; rec: PendingRecord; before?: VlanRecord; calls: Call[]; after: VlanRecord | undefined; action: string }[] = [
  {
    title: 'vlan-create not done: rolled back, the link torn down',
    rec: pending('vlan-create', { name: vlan.name, after: vlan }, false),
    calls: [{ op: 'teardown', spec: { ifname: 'eth1.100', parent: 'eth1', id: 100, bridge: 'volt-backend', network: 'backend' } }],
    after: undefined,
    action: 'rolled back',
  },
  { title: 'vlan-create done: rolled forward, nothing to redo', rec: pending('vlan-create', { name: vlan.name, after: vlan }, true), calls: [], after: vlan, action: 'rolled forward' },
  {
    title: 'vlan-delete not done: rolled forward, the link torn down',
    rec: pending('vlan-delete', { name: vlan.name, before: vlan }, false),
    before: vlan,
    calls: [{ op: 'teardown', spec: { ifname: 'eth1.100', parent: 'eth1', id: 100, bridge: 'volt-backend', network: 'backend' } }],
    after: undefined,
    action: 'rolled forward',
  },
  {
    title: 'vlan-attach not done: rolled back onto no bridge',
    rec: pending('vlan-attach', { name: vlan.name, before: { ...vlan, network: undefined }, after: vlan }, false),
    before: { name: vlan.name, parent: 'eth1', id: 100, createdAt: 'x' },
    calls: [{ op: 'setup', spec: { ifname: 'eth1.100', parent: 'eth1', id: 100 } }],
    after: { name: vlan.name, parent: 'eth1', id: 100, createdAt: 'x' },
    action: 'rolled back',
  },
];

for (const c of cases) {
  test(`settling ${c.title}`, async (t) => {
    const { s, file } = store(t);
    const r = recorder();
    const warnings: string[] = [];
    await s.transaction(async (state) => {
      state.networks.backend = net;
      if (c.before) state.vlans[c.before.name] = c.before;
      state.pending = [c.rec];
      await settleOwnPending(s, state, { bridge: r.bridge, warn: (m) => warnings.push(m) }, VLAN_OPS);
    });
    t.deepEqual(r.calls.map((x) => ({ op: x.op, spec: JSON.parse(JSON.stringify(x.spec)) as VlanSpec })), c.calls);
    const disk = onDisk(file);
    t.is(disk.pending, undefined);
    t.deepEqual(disk.vlans[vlan.name], c.after === undefined ? undefined : JSON.parse(JSON.stringify(c.after)));
    t.deepEqual(warnings, [`settled an interrupted ${c.rec.op} of VLAN eth1.100: ${c.action}`]);
  });
}

test('journaledVlan: the intent is on disk before the driver runs; the result after', async (t) => {
  const { s, file } = store(t);
  const seen: (PendingRecord[] | undefined)[] = [];
  const r = recorder();
  const bridge = async (): Promise<BridgeDriver> => {
    const d = await r.bridge();
    const setup = d.setupVlan!.bind(d);
    return { ...d, setupVlan: async (spec: VlanSpec) => { seen.push(onDisk(file).pending); await setup(spec); } } as BridgeDriver;
  };
  await s.transaction(async (state) => {
    state.networks.backend = net;
    await journaledVlan(s, state, 'vlan-create', { name: vlan.name, after: vlan }, { bridge, warn: () => undefined });
  });
  t.deepEqual(seen.map((p) => p?.map((x) => [x.op, x.steps])), [[['vlan-create', [{ name: 'link', done: false }]]]]);
  t.deepEqual(onDisk(file).vlans[vlan.name], vlan);
  t.is(onDisk(file).pending, undefined);
});
