import 'reflect-metadata';
import test from 'ava';
import { container } from 'tsyringe';
import { DriverRegistry } from '@volt/core/dist/services/host/driver-registry';
import { BridgeDriver } from '@volt/sdk';
import { FirewallDriver } from '@volt/sdk';
import { DnsDriver } from '@volt/sdk';
import { IngressDriver } from '@volt/sdk';
import { VmNicDriver, VmNicAccelerator, GuestDhcp, driverTokens } from '@volt/sdk';
import type { Driver } from '@volt/sdk';

const tokens = { bridge: BridgeDriver, firewall: FirewallDriver, dns: DnsDriver, ingress: IngressDriver, 'vm-nic': VmNicDriver, 'vm-nic-accel': VmNicAccelerator, 'guest-dhcp': GuestDhcp };

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

// The VM NIC side contracts are selected like the rest (issue 12): pinned in drivers:, detected otherwise.

function dhcp(name: string, ok: boolean, preference: number, fallback: boolean, forBridge?: string): Driver {
  return { ...fake(name, ok, preference, fallback), forBridge } as Driver;
}

function sideRegistry(bridges: Driver[], accels: Driver[], dhcps: Driver[], configured: Record<string, string> = {}): DriverRegistry {
  const c = container.createChildContainer();
  for (const d of bridges) c.register(BridgeDriver, { useFactory: () => d as unknown as BridgeDriver });
  for (const d of accels) c.register(VmNicAccelerator, { useFactory: () => d as unknown as VmNicAccelerator });
  for (const d of dhcps) c.register(GuestDhcp, { useFactory: () => d as unknown as GuestDhcp });
  return new DriverRegistry(c, tokens, configured);
}

test('the SDK hands plugins a token for vm-nic-accel and guest-dhcp, the same symbols as the contracts', (t) => {
  t.is(driverTokens['vm-nic-accel'], VmNicAccelerator);
  t.is(driverTokens['guest-dhcp'], GuestDhcp);
});

test('vm-nic-accel: detected when its probe succeeds, pinned by drivers.vm-nic-accel, and a pinned unknown name is an error', async (t) => {
  const vhost = fake('vhost-net', true, 10, false, '/dev/vhost-net opens');
  const other = fake('vhost-user', true, 5, false);
  t.is((await sideRegistry([], [vhost, other], []).select('vm-nic-accel')).active?.name, 'vhost-net');
  const pinned = await sideRegistry([], [vhost, other], [], { 'vm-nic-accel': 'vhost-user' }).select('vm-nic-accel');
  t.is(pinned.active?.name, 'vhost-user');
  t.is(pinned.why, 'configured (drivers.vm-nic-accel)');
  const none = await sideRegistry([], [fake('vhost-net', false, 10, false, '/dev/vhost-net: ENOENT')], []).select('vm-nic-accel');
  t.is(none.active, undefined);
  t.regex(none.why, /vhost-net: \/dev\/vhost-net: ENOENT/);
  const e = await t.throwsAsync(sideRegistry([], [vhost], [], { 'vm-nic-accel': 'nope' }).select('vm-nic-accel'));
  t.regex(e!.message, /drivers\.vm-nic-accel is "nope".*valid: vhost-net/);
});

test('guest-dhcp: detection takes the one made for the active bridge driver, else one for any bridge; drivers.guest-dhcp pins it', async (t) => {
  const dnsmasq = dhcp('dnsmasq', true, 0, true);
  const nd = dhcp('networkd-dhcp', true, 10, false, 'networkd');
  const withNetworkd = await sideRegistry([fake('networkd', true, 10, false), fake('direct', true, 0, true)], [], [dnsmasq, nd]).select('guest-dhcp');
  t.is(withNetworkd.active?.name, 'networkd-dhcp');
  const withDirect = await sideRegistry([fake('networkd', false, 10, false), fake('direct', true, 0, true)], [], [dnsmasq, nd]).select('guest-dhcp');
  t.is(withDirect.active?.name, 'dnsmasq');
  t.regex(withDirect.why, /networkd-dhcp: goes with the networkd bridge driver, and the active one is direct → dnsmasq/);
  // Pinned: dnsmasq with the networkd bridge driver.
  const pinned = await sideRegistry([fake('networkd', true, 10, false), fake('direct', true, 0, true)], [], [dnsmasq, nd], { 'guest-dhcp': 'dnsmasq' }).select('guest-dhcp');
  t.is(pinned.active?.name, 'dnsmasq');
  t.is(pinned.why, 'configured (drivers.guest-dhcp)');
  // Pinned to one that cannot work with the active bridge driver: not silently replaced.
  const misfit = await sideRegistry([fake('direct', true, 0, true)], [], [dnsmasq, nd], { 'guest-dhcp': 'networkd-dhcp' }).select('guest-dhcp');
  t.is(misfit.active, undefined);
  t.regex(misfit.why, /configured networkd-dhcp, but goes with the networkd bridge driver, and the active one is direct/);
});
