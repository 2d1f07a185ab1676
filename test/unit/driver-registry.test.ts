import 'reflect-metadata';
import test from 'ava';
import { container } from 'tsyringe';
import { DriverRegistry } from '@volt/core/dist/services/host/driver-registry';
import { BridgeDriver } from '@volt/sdk';
import { FirewallDriver } from '@volt/sdk';
import { DnsDriver } from '@volt/sdk';
import { IngressDriver } from '@volt/sdk';
import { VmNicDriver } from '@volt/sdk';
import type { Driver } from '@volt/sdk';

const tokens = { bridge: BridgeDriver, firewall: FirewallDriver, dns: DnsDriver, ingress: IngressDriver, 'vm-nic': VmNicDriver };

function fake(name: string, ok: boolean, preference: number, fallback: boolean, reason = ok ? 'ok' : 'not running'): Driver {
  return { name, preference, fallback, description: name, available: async () => ({ ok, reason }) };
}

function registryWith(drivers: Driver[], configured: Record<string, string> = {}): DriverRegistry {
  const c = container.createChildContainer();
  for (const d of drivers) c.register(BridgeDriver, { useFactory: () => d as unknown as BridgeDriver });
  return new DriverRegistry(c, tokens, configured);
}

test('detection prefers an available driver over the fallback', async (t) => {
  const s = await registryWith([fake('direct', true, 0, true), fake('networkd', true, 10, false, 'networkd answers on D-Bus')]).select('bridge');
  t.is(s.active?.name, 'networkd');
  t.is(s.why, 'detected: networkd answers on D-Bus');
});

test('an unavailable driver falls back, and says why', async (t) => {
  const s = await registryWith([fake('direct', true, 0, true), fake('networkd', false, 10, false)]).select('bridge');
  t.is(s.active?.name, 'direct');
  t.is(s.why, 'networkd: not running → direct');
  t.deepEqual(
    s.choices.map((c) => [c.name, c.active, c.available]),
    [
      ['networkd', false, false],
      ['direct', true, true],
    ],
  );
});

test('config wins over detection', async (t) => {
  const s = await registryWith([fake('direct', true, 0, true), fake('networkd', true, 10, false)], { bridge: 'direct' }).select('bridge');
  t.is(s.active?.name, 'direct');
  t.is(s.why, 'configured (drivers.bridge)');
});

test('an unknown configured name is an error listing the valid ones', async (t) => {
  const r = registryWith([fake('direct', true, 0, true), fake('networkd', true, 10, false)], { bridge: 'ovs' });
  const e = await t.throwsAsync(r.select('bridge'));
  t.regex(e!.message, /drivers\.bridge is "ovs".*valid: networkd, direct/);
  t.deepEqual(r.unknownNames({ bridge: 'ovs' }), ['drivers.bridge: "ovs" (valid: networkd, direct)']);
});

test('a configured but unavailable driver is not silently replaced', async (t) => {
  const r = registryWith([fake('direct', true, 0, true), fake('networkd', false, 10, false)], { bridge: 'networkd' });
  const s = await r.select('bridge');
  t.is(s.active, undefined);
  const e = await t.throwsAsync(r.get('bridge'));
  t.regex(e!.message, /configured networkd, but not running/);
});

test('no driver installed for a contract', async (t) => {
  const s = await registryWith([]).select('dns');
  t.is(s.active, undefined);
  t.is(s.why, 'no driver installed');
});
