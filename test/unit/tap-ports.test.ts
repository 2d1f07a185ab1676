import test from 'ava';
import type { BridgeDriver, BridgeObservation, BridgeTapPorts, VmNicDriver, VmNicHandle, VmNicSpec } from '@volt/sdk';
import { capabilitiesOf } from '@volt/sdk';
import { tapPortsOf, tapsOnBridgePorts } from '@volt/core/dist/services/vm/tap-ports';
import { bridgeDrift } from '@volt/core/dist/services/network/network-service';
import type { NetworkRecord } from '@volt/core/dist/state/types';

// The tap-ports seam (a bridge driver that plugs VM TAPs in itself, as Open vSwitch must) and driver-reported drift, against fakes.

const spec: VmNicSpec = { vm: 'db', vmUuid: 'u', nicId: 'eth0', ifname: 'tap-0123456789', bridge: 'volt-backend', mac: '52:54:00:00:00:01', mtu: 1500, queues: 1 };

function fakeNic(log: string[]): VmNicDriver {
  return {
    name: 'direct-tap',
    preference: 0,
    fallback: true,
    description: 'fake',
    available: async () => ({ ok: true, reason: 'fake' }),
    setupNic: async (s): Promise<VmNicHandle> => {
      log.push(`setupNic bridge=${String(s.bridge)}`);
      return { ifname: s.ifname, tapFds: [7], warnings: [] };
    },
    teardownNic: async (s, h) => void log.push(`teardownNic fds=${h?.tapFds.join(',') ?? '-'}`),
    attachNic: async (s) => void log.push(`attachNic ${s.bridge}`),
    detachNic: async () => void log.push('detachNic'),
  };
}

function fakePorts(log: string[], failAttach = false): BridgeTapPorts {
  return {
    attachTap: async (s) => {
      log.push(`attachTap ${s.ifname}→${s.bridge} mtu ${s.mtu}`);
      if (failAttach) throw new Error('ovs-vsctl: no bridge named volt-backend');
    },
    detachTap: async (s) => void log.push(`detachTap ${s.ifname}`),
    tapBridge: async () => 'volt-backend',
  };
}

test('tap-ports: the vm-nic driver makes the TAP on no bridge, the bridge driver plugs it in and out', async (t) => {
  const log: string[] = [];
  const d = tapsOnBridgePorts(fakeNic(log), fakePorts(log), () => undefined);
  t.is(d.name, 'direct-tap');
  t.true(d.fallback);
  const h = await d.setupNic(spec);
  t.deepEqual(h.tapFds, [7]);
  await d.attachNic({ ...spec, bridge: 'volt-other' });
  await d.detachNic(spec);
  await d.teardownNic(spec, h);
  t.deepEqual(log, ['setupNic bridge=undefined', 'attachTap tap-0123456789→volt-backend mtu 1500', 'attachTap tap-0123456789→volt-other mtu 1500', 'detachTap tap-0123456789', 'detachTap tap-0123456789', 'teardownNic fds=7']);
});

test('tap-ports: a TAP the bridge driver cannot plug in is torn down again, and the error is the bridge driver’s', async (t) => {
  const log: string[] = [];
  const d = tapsOnBridgePorts(fakeNic(log), fakePorts(log, true), () => undefined);
  await t.throwsAsync(() => d.setupNic(spec), { message: /no bridge named volt-backend/ });
  t.deepEqual(log, ['setupNic bridge=undefined', 'attachTap tap-0123456789→volt-backend mtu 1500', 'teardownNic fds=7']);
  // A NIC on no network is not plugged anywhere.
  log.length = 0;
  await d.setupNic({ ...spec, bridge: undefined });
  t.deepEqual(log, ['setupNic bridge=undefined']);
});

test('tap-ports: only a bridge driver with all three methods has the capability', (t) => {
  const base = { name: 'b', preference: 0, fallback: false, description: '', available: async () => ({ ok: true, reason: '' }) };
  const plain = { ...base, setupBridge: async () => undefined, teardownBridge: async () => undefined, inspectBridge: async () => ({}) as BridgeObservation, inspectBridges: async () => [] } as BridgeDriver;
  t.is(tapPortsOf(plain), undefined);
  t.is(tapPortsOf(undefined), undefined);
  const half = { ...plain, attachTap: async () => undefined, detachTap: async () => undefined } as BridgeDriver;
  t.is(tapPortsOf(half), undefined);
  const full = { ...half, tapBridge: async () => undefined } as BridgeDriver;
  t.is(tapPortsOf(full), full as unknown as BridgeTapPorts);
  t.deepEqual(capabilitiesOf('bridge', full), ['tap-ports']);
});

test('bridge drift: what only the driver can see (its problems) is drift too', (t) => {
  const n: NetworkRecord = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', mtu: 1500, nat: true, mac: '02:00:00:00:00:01', isDefault: false, createdAt: 'x' };
  const obs: BridgeObservation = { ifname: 'volt-backend', exists: true, kind: 'bridge', up: true, mtu: 1500, mac: '02:00:00:00:00:01', addresses: ['10.30.0.1/24'], ports: [] };
  t.deepEqual(bridgeDrift(n, obs), []);
  t.deepEqual(bridgeDrift(n, { ...obs, problems: ['Open vSwitch bridge volt-backend lacks the flow that keeps IPv6 off the network'] }), [
    'Open vSwitch bridge volt-backend lacks the flow that keeps IPv6 off the network',
  ]);
});
