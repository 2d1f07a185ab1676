/**
 * DirectBridge's VLAN part against a real kernel, each test in its own namespace
 * (220-vlan-runner.js under `ip netns exec`). On a kernel without 8021q the
 * driver must refuse with E_VLAN_UNSUPPORTED and leave nothing behind; with
 * 8021q it creates, converges, moves and removes the VLAN.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { VlanSpec } from '@volt/sdk';
import { probe8021q } from '@volt/sdk/kernel';
import type { VlanRunnerOutcome, VlanRunnerRequest } from './220-vlan-runner';

const exec = promisify(execFile);
const RUNNER = path.join(__dirname, '220-vlan-runner.js');
let counter = 0;

/** The same test as core's probe8021q, synchronous so that tests can be skipped by it. */
const HAS_8021Q =
  fs.existsSync('/proc/net/vlan') ||
  ['modules.builtin', 'modules.dep'].some((f) => /(^|\/)8021q\.ko/m.test(fs.existsSync(`/lib/modules/${os.release()}/${f}`) ? fs.readFileSync(`/lib/modules/${os.release()}/${f}`, 'utf8') : ''));

async function netns(t: ExecutionContext): Promise<string> {
  const name = `vt-vl-${process.pid}-${counter++}`;
  await exec('ip', ['netns', 'add', name]);
  t.teardown(async () => {
    await exec('ip', ['netns', 'del', name]).catch(() => undefined);
  });
  // The "physical" link and a bridge for it to join.
  await exec('ip', ['-n', name, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1p']);
  await exec('ip', ['-n', name, 'link', 'set', 'eth1', 'up']);
  await exec('ip', ['-n', name, 'link', 'add', 'vtbr0', 'type', 'bridge']);
  return name;
}

async function run(ns: string, op: VlanRunnerRequest['op'], spec: VlanSpec): Promise<VlanRunnerOutcome> {
  const { stdout } = await exec('ip', ['netns', 'exec', ns, process.execPath, RUNNER, JSON.stringify({ driver: 'direct', op, spec })]);
  return JSON.parse(stdout) as VlanRunnerOutcome;
}

async function linkNames(ns: string): Promise<string[]> {
  const { stdout } = await exec('ip', ['-n', ns, '-j', 'link', 'show']);
  return (JSON.parse(stdout) as { ifname: string }[]).map((l) => l.ifname).sort();
}

const spec: VlanSpec = { ifname: 'eth1.100', parent: 'eth1', id: 100, bridge: 'vtbr0', network: 'backend' };

test('the probe agrees with what the kernel does', async (t) => {
  const ns = await netns(t);
  const probe = await run(ns, 'support', spec);
  const real = await exec('ip', ['-n', ns, 'link', 'add', 'link', 'eth1', 'name', 'probe.9', 'type', 'vlan', 'id', '9']).then(
    () => true,
    () => false,
  );
  t.is((probe.result as { ok: boolean }).ok, real);
});

test('set-up refuses what is not its to change, and tear-down of nothing is success', async (t) => {
  const ns = await netns(t);
  const before = await linkNames(ns);
  const noParent = await run(ns, 'setup', { ...spec, parent: 'eth9' });
  t.is(noParent.error?.code, 'E_VLAN_PARENT_MISSING');
  t.regex(noParent.error!.message, /set up VLAN "eth1\.100" \(id 100 on eth9\) as uplink of network "backend": parent eth9 does not exist/);
  const noBridge = await run(ns, 'setup', { ...spec, bridge: 'vtbr9' });
  t.is(noBridge.error?.code, 'E_VLAN_BRIDGE_MISSING');
  await exec('ip', ['-n', ns, 'link', 'add', 'eth1.100', 'type', 'veth', 'peer', 'name', 'other']);
  const taken = await run(ns, 'setup', spec);
  t.is(taken.error?.code, 'E_VLAN_NAME_TAKEN');
  t.regex(taken.error!.message, /interface eth1\.100 exists and is a veth link/);
  const left = await run(ns, 'teardown', spec);
  t.true(left.ok);
  t.regex(left.warnings[0] ?? '', /is a veth link; left alone/);
  await exec('ip', ['-n', ns, 'link', 'del', 'eth1.100']);
  t.true((await run(ns, 'teardown', spec)).ok, 'already gone is success');
  t.deepEqual(await run(ns, 'inspect', spec), { ok: true, result: [{ ifname: 'eth1.100', exists: false, up: false }], warnings: [] });
  t.deepEqual(await linkNames(ns), before);
});

(HAS_8021Q ? test.skip : test)('without 8021q: E_VLAN_UNSUPPORTED, exit code 5, and nothing left behind', async (t) => {
  t.false((await probe8021q()).ok);
  const ns = await netns(t);
  const before = await linkNames(ns);
  const r = await run(ns, 'setup', spec);
  t.false(r.ok);
  t.is(r.error?.code, 'E_VLAN_UNSUPPORTED');
  t.is(r.error?.exitCode, 5);
  t.regex(r.error!.message, /has no 802\.1Q VLAN support/);
  t.deepEqual(await linkNames(ns), before);
});

(HAS_8021Q ? test : test.skip)('with 8021q: create on the bridge, converge with no change, move off the bridge, remove', async (t) => {
  t.true((await probe8021q()).ok);
  const ns = await netns(t);
  t.true((await run(ns, 'setup', spec)).ok);
  const seen = (await run(ns, 'inspect', spec)).result as { kind?: string; parent?: string; id?: number; master?: string; up: boolean }[];
  t.like(seen[0], { exists: true, kind: 'vlan', parent: 'eth1', id: 100, master: 'vtbr0', up: true });
  t.true((await run(ns, 'setup', spec)).ok, 'idempotent');
  t.true((await run(ns, 'setup', { ...spec, bridge: undefined, network: undefined })).ok);
  t.is(((await run(ns, 'inspect', spec)).result as { master?: string }[])[0]?.master, undefined);
  t.true((await run(ns, 'teardown', spec)).ok);
  t.false((await linkNames(ns)).includes('eth1.100'));
  t.true((await linkNames(ns)).includes('eth1'), 'the parent stays');
});
