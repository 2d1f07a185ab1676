/**
 * DirectTap (plugins/direct) against a real kernel, in a namespace of its own:
 * TUNSETIFF through koffi, vnet_hdr/multi_queue flags, bridge port and MTU,
 * the fd hand-off that keeps a non-persistent TAP alive in a child (QEMU's
 * part, played by `sleep`), moving between bridges, and errors.
 */
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { VmNicSpec } from '@volt/sdk';
import { NicRunner } from './300-vm-nic-client';

import { createNetns, deleteNetns } from '../harness';

const exec = promisify(execFile);
let counter = 0;

async function netns(t: ExecutionContext): Promise<string> {
  const name = `vt-tap-${process.pid}-${counter++}`;
  await createNetns(name);
  t.teardown(() => deleteNetns(name));
  for (const br of ['br-a', 'br-b']) {
    await exec('ip', ['-n', name, 'link', 'add', br, 'type', 'bridge']);
    await exec('ip', ['-n', name, 'link', 'set', br, 'mtu', '1400', 'up']);
  }
  return name;
}

interface DetailedLink {
  ifname: string;
  mtu: number;
  master?: string;
  flags: string[];
  linkinfo?: { info_kind?: string; info_data?: { type?: string; pi?: boolean; vnet_hdr?: boolean; multi_queue?: boolean; numqueues?: number; persist?: boolean } };
}

async function link(ns: string, ifname: string): Promise<DetailedLink | undefined> {
  try {
    const { stdout } = await exec('ip', ['-n', ns, '-j', '-d', 'link', 'show', 'dev', ifname]);
    return (JSON.parse(stdout) as DetailedLink[])[0];
  } catch {
    return undefined;
  }
}

function spec(over: Partial<VmNicSpec> = {}): VmNicSpec {
  return {
    vm: 'db-primary',
    vmUuid: '6f1c9a2e-0000-4000-8000-000000000001',
    nicId: 'eth0',
    ifname: 'tap-6f1c9a0001',
    bridge: 'br-a',
    mac: '52:54:00:12:34:56',
    mtu: 1400,
    queues: 1,
    ...over,
  };
}

test('a single-queue TAP: vnet_hdr, no PI, on the bridge with its MTU; gone when the last fd closes', async (t) => {
  const ns = await netns(t);
  const r = new NicRunner(t, ['ip', 'netns', 'exec', ns], { driver: 'direct-tap' });
  t.deepEqual((await r.ok({ op: 'available' })).result, { ok: true, reason: '/dev/net/tun present' });
  const s = spec();
  t.deepEqual((await r.ok({ op: 'setup', spec: s })).result, { ifname: s.ifname, queues: 1, warnings: [] });
  const l = await link(ns, s.ifname);
  t.is(l?.linkinfo?.info_kind, 'tun');
  t.is(l?.linkinfo?.info_data?.type, 'tap');
  t.is(l?.linkinfo?.info_data?.vnet_hdr, true);
  t.is(l?.linkinfo?.info_data?.pi, false);
  t.is(l?.linkinfo?.info_data?.persist, false);
  t.is(l?.master, 'br-a');
  t.is(l?.mtu, 1400);
  t.true(l?.flags.includes('UP'));
  await r.ok({ op: 'close', ifname: s.ifname });
  t.is(await link(ns, s.ifname), undefined, 'not persistent: closing the fds removed it');
  // Teardown of something already gone is success.
  await r.ok({ op: 'teardown', spec: s });
});

test('multiqueue: one fd per queue; handed to a child, the TAP lives exactly as long as the child', async (t) => {
  const ns = await netns(t);
  const r = new NicRunner(t, ['ip', 'netns', 'exec', ns], { driver: 'direct-tap' });
  const s = spec({ queues: 4, ifname: 'tap-mq0' });
  t.is(((await r.ok({ op: 'setup', spec: s })).result as { queues: number }).queues, 4);
  let l = await link(ns, s.ifname);
  t.is(l?.linkinfo?.info_data?.multi_queue, true);
  t.is(l?.linkinfo?.info_data?.numqueues, 4);
  const { pid } = (await r.ok({ op: 'hold', ifname: s.ifname })).result as { pid: number };
  l = await link(ns, s.ifname);
  t.is(l?.linkinfo?.info_data?.numqueues, 4, 'the child holds all four queues after the runner closed its copies');
  t.is(l?.master, 'br-a');
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100 && (await link(ns, s.ifname)); i++) await new Promise((res) => setTimeout(res, 20));
  t.is(await link(ns, s.ifname), undefined, 'gone with the last holder');
});

test('attach moves a running TAP to another bridge, detach unplugs it, teardown removes it', async (t) => {
  const ns = await netns(t);
  const r = new NicRunner(t, ['ip', 'netns', 'exec', ns], { driver: 'direct-tap' });
  const s = spec({ bridge: undefined, ifname: 'tap-mv0' });
  await r.ok({ op: 'setup', spec: s });
  let l = await link(ns, s.ifname);
  t.is(l?.master, undefined, 'a NIC without a network is up but on no bridge');
  t.true(l?.flags.includes('UP'));
  await r.ok({ op: 'attach', spec: { ...s, bridge: 'br-b' } });
  t.is((await link(ns, s.ifname))?.master, 'br-b');
  await r.ok({ op: 'attach', spec: { ...s, bridge: 'br-a' } });
  t.is((await link(ns, s.ifname))?.master, 'br-a');
  await r.ok({ op: 'detach', spec: s });
  l = await link(ns, s.ifname);
  t.is(l?.master, undefined);
  await r.ok({ op: 'teardown', spec: s });
  t.is(await link(ns, s.ifname), undefined);
  await r.ok({ op: 'detach', spec: s });
});

test('errors: a name taken by another kind of link, a TAP already in use, a missing bridge — each cleans up', async (t) => {
  const ns = await netns(t);
  const r = new NicRunner(t, ['ip', 'netns', 'exec', ns], { driver: 'direct-tap' });
  await exec('ip', ['-n', ns, 'link', 'add', 'tap-taken', 'type', 'veth', 'peer', 'name', 'tap-taken-p']);
  const taken = await r.request({ op: 'setup', spec: spec({ ifname: 'tap-taken' }) });
  t.false(taken.ok);
  t.is(taken.error?.code, 'E_LINK_EXISTS');
  t.regex(taken.error?.message ?? '', /tap-taken exists and is a veth link/);

  const s = spec({ ifname: 'tap-busy' });
  await r.ok({ op: 'setup', spec: s });
  const busy = await r.request({ op: 'setup', spec: s });
  t.false(busy.ok);
  t.is(busy.error?.code, 'E_TAP');
  t.regex(busy.error?.message ?? '', /in use by another process/);
  t.is((await link(ns, s.ifname))?.master, 'br-a', 'the first one is untouched');

  const nobridge = await r.request({ op: 'setup', spec: spec({ ifname: 'tap-nobr', bridge: 'br-missing' }) });
  t.false(nobridge.ok);
  t.is(await link(ns, 'tap-nobr'), undefined, 'a failed plug closes the fds, so the TAP is gone');

  const bad = await r.request({ op: 'setup', spec: spec({ ifname: 'tap\nlink del x' }) });
  t.is(bad.error?.code, 'E_NIC_SPEC');
});

// Serial: ava runs it before the other tests of the file, so its load does not slow their bounded waits.
test.serial('the conformance kit passes DirectTap (vm-nic suite, @volt/sdk/testing, a namespace of its own)', async (t) => {
  const { runConformance } = await import('@volt/sdk/testing');
  const { builtinHooks } = await import('./driver-hooks');
  const r = await runConformance({ kind: 'vm-nic', driver: { name: 'direct-tap', hook: builtinHooks() } });
  t.deepEqual(r.cases.filter((c) => c.status !== 'pass').map((c) => `${c.name}: ${c.reason ?? ''}`), []);
  t.true(r.ok);
  t.is(r.passed, 9);
});
