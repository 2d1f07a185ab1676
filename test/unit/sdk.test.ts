import 'reflect-metadata';
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { container } from 'tsyringe';
import { DriverRegistry } from '@volt/core/dist/services/host/driver-registry';
import {
  BridgeDriver,
  FirewallDriver,
  GuestDhcp,
  SDK_VERSION,
  capabilitiesOf,
  capabilityGaps,
  checkPluginSdk,
  driverTokens,
  kindOfToken,
  token,
  type Driver,
} from '@volt/sdk';
import { linkGone, okOrGone } from '@volt/sdk/kernel';
import { createTestHost } from '@volt/sdk/testing';

const REPO = path.resolve(__dirname, '../../..');

test('SDK_VERSION is the version in sdk/package.json', (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'sdk/package.json'), 'utf8')) as { version: string };
  t.is(SDK_VERSION, pkg.version);
});

test('a plugin built for our major is accepted; another major, none, or an unreadable range is refused', (t) => {
  const ok = (range: string): boolean => checkPluginSdk({ name: 'p', peerDependencies: { '@volt/sdk': range } }, '1.4.2').ok;
  for (const r of ['^1.0.0', '1', '1.x', '~1.2', '>=1.0.0 <2', '>=1.2.0 <2.0.0', '1.0.0', '=1.3.0']) t.true(ok(r), r);
  for (const r of ['^2.0.0', '2.x', '^0.9.0', '>=1.0.0', '*', '^1.0.0 || ^2.0.0', '>=2', 'latest']) t.false(ok(r), r);

  const other = checkPluginSdk({ name: 'volt-plugin-x', peerDependencies: { '@volt/sdk': '^2.0.0' } }, '1.0.0');
  t.false(other.ok);
  if (!other.ok) {
    t.is(other.reason, 'it was built for @volt/sdk ^2.0.0 (2.x), and this volt has @volt/sdk 1.0.0');
    t.regex(other.fix, /rebuild volt-plugin-x against @volt\/sdk 1\.x .*"\^1\.0\.0"/);
  }
  const none = checkPluginSdk({ name: 'old' }, '1.0.0');
  t.false(none.ok);
  if (!none.ok) t.regex(none.reason, /does not say which @volt\/sdk/);
  // Where the range is read from: peerDependencies, then dependencies, then volt.sdk.
  t.true(checkPluginSdk({ name: 'p', dependencies: { '@volt/sdk': '^1.0.0' } }, '1.0.0').ok);
  t.true(checkPluginSdk({ name: 'p', volt: { sdk: '1.x' } }, '1.0.0').ok);
  t.false(checkPluginSdk({ name: 'p', peerDependencies: { '@volt/sdk': '^2.0.0' }, volt: { sdk: '1.x' } }, '1.0.0').ok);
});

test('every plugin in this repository declares an SDK range this SDK accepts', (t) => {
  for (const dir of ['plugins', 'examples']) {
    for (const name of fs.readdirSync(path.join(REPO, dir))) {
      const file = path.join(REPO, dir, name, 'package.json');
      if (!fs.existsSync(file)) continue;
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as Parameters<typeof checkPluginSdk>[0];
      t.deepEqual(checkPluginSdk(pkg), { ok: true, range: '^1.0.0' }, `${dir}/${name}`);
    }
  }
});

function fakeBridge(name: string, extra: Record<string, unknown> = {}): BridgeDriver {
  const base: Driver = { name, preference: 0, fallback: true, description: name, available: async () => ({ ok: true, reason: 'ok' }) };
  return Object.assign(base, { setupBridge: async () => {}, teardownBridge: async () => {}, inspectBridge: async () => undefined, inspectBridges: async () => [] }, extra) as unknown as BridgeDriver;
}

const vlans = { vlanSupport: async () => ({ ok: true, reason: '' }), setupVlan: async () => {}, teardownVlan: async () => {}, inspectVlans: async () => [] };

test('capabilities: complete optional parts are named; a part implemented in half is reported, not used', (t) => {
  t.deepEqual(capabilitiesOf('bridge', fakeBridge('plain')), []);
  t.deepEqual(capabilitiesOf('bridge', fakeBridge('full', vlans)), ['vlans']);
  const half = fakeBridge('half', { setupVlan: vlans.setupVlan, teardownVlan: vlans.teardownVlan });
  t.deepEqual(capabilitiesOf('bridge', half), []);
  t.deepEqual(capabilityGaps('bridge', half), ['vlans (missing vlanSupport, inspectVlans)']);
});

test('the registry is typed by token, knows capabilities, and names refused plugins in unknown-driver errors', async (t) => {
  const c = container.createChildContainer();
  c.register(BridgeDriver, { useFactory: () => fakeBridge('direct', vlans) });
  const refused = [{ plugin: 'volt-plugin-ovs 2.0.0', reason: 'it was built for @volt/sdk ^2.0.0 (2.x), and this volt has @volt/sdk 1.0.0', fix: 'rebuild it' }];
  const r = new DriverRegistry(c, driverTokens, {}, refused);
  const byToken: BridgeDriver = await r.get(BridgeDriver);
  const byKind: BridgeDriver = await r.get('bridge');
  t.is(byToken.name, 'direct');
  t.is(byKind, byToken);
  t.true(await r.has('bridge', 'vlans'));
  t.false(await r.has('firewall', 'rules'));
  t.deepEqual((await r.select('bridge')).choices[0]!.capabilities, ['vlans']);
  t.is(kindOfToken(FirewallDriver), 'firewall');
  // The VM NIC side contracts are selected like the rest (issue 12).
  t.is(kindOfToken(GuestDhcp), 'guest-dhcp');
  const notADriver = token<BridgeDriver>('volt.not-a-driver');
  t.is(kindOfToken(notADriver), undefined);
  await t.throwsAsync(r.get(notADriver), { message: /not a contract the registry selects/ });

  const configured = new DriverRegistry(c, driverTokens, { bridge: 'ovs' }, refused);
  const e = await t.throwsAsync(configured.select('bridge'));
  t.regex(e!.message, /drivers\.bridge is "ovs", which no installed plugin provides/);
  t.true((e as unknown as { suggestions: string[] }).suggestions.some((s) => /plugin volt-plugin-ovs 2\.0\.0 was not loaded: it was built for @volt\/sdk \^2\.0\.0/.test(s)));
});

test('linkGone: the one test for "that link is already gone"', (t) => {
  t.true(linkGone('Cannot find device "vh0123456789"'));
  t.true(linkGone('Device "volt-x" does not exist.'));
  t.true(linkGone('RTNETLINK answers: No such device'));
  t.true(linkGone('RTNETLINK answers: Cannot assign requested address'));
  t.false(linkGone('RTNETLINK answers: Operation not permitted'));
  t.true(okOrGone({ code: 0, stdout: '', stderr: '' }));
  t.true(okOrGone({ code: 1, stdout: '', stderr: 'Cannot find device "x"' }));
  t.false(okOrGone({ code: 2, stdout: '', stderr: 'RTNETLINK answers: File exists' }));
});

test('the test kit hands a driver a host context under a temporary root', (t) => {
  const host = createTestHost();
  t.teardown(() => host.cleanup());
  t.regex(path.basename(host.paths.root), /^volt-sdk-test-/);
  t.is(host.paths.networkdEtcDir, path.join(host.paths.root, 'etc/systemd/network'));
  host.warn('w');
  t.deepEqual(host.warnings, ['w']);
  host.cleanup();
  t.false(fs.existsSync(host.paths.root));
});

test('one interface-name and MAC rule: isIfname / isMac (sdk/kernel/names.ts)', async (t) => {
  const { isIfname, isMac } = await import('@volt/sdk/kernel');
  for (const ok of ['eth0', 'volt-backend', 'vh0123456789', 'a', 'br_0.100', 'x'.repeat(15)]) t.true(isIfname(ok), ok);
  for (const bad of ['', '.', '..', 'x'.repeat(16), 'eth0\nlink del lo', 'a b', 'a/b', 'a:b', 'é', 'eth0;']) t.false(isIfname(bad), JSON.stringify(bad));
  t.true(isMac('02:53:0b:84:40:24'));
  t.true(isMac('02:53:0B:84:40:24'));
  for (const bad of ['', '02:53:0b:84:40', '02:53:0b:84:40:24:00', '0253.0b84.4024', '02:53:0b:84:40:2g', '02:53:0b:84:40:24\n']) t.false(isMac(bad), JSON.stringify(bad));
});
