import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost, guestConfig, ping, type ContainerNs } from '../harness';
import { faultPoints, OPERATION_STEPS } from '@volt/core/dist/state/journal';
import { vethHostName } from '@volt/core/dist/services/attachments/attach-plan';
import { KILLED, assertConsistent, readState } from './150-crash-lib';
import { snapshot } from './kernel-snapshot';
import { writeConfig } from './300-vm-scenario';

// `volt net connect NET W1 … WN`: one transaction, one journaled connect-batch, all or nothing.

interface Attachment {
  workload: string;
  network: string;
  ip: string;
  mac: string;
  ifname: string;
  hostIfname: string;
}

/** Links and addresses inside the containers, as ip -j shows them (the host snapshot does not look inside). */
async function inside(cs: ContainerNs[]): Promise<unknown[]> {
  return Promise.all(cs.map(async (c) => (await c.execJson<{ ifname: string; addr_info: { local: string }[] }[]>('ip', ['-j', 'addr', 'show'])).map((l) => [l.ifname, l.addr_info.map((a) => a.local)])));
}

async function containers(host: SandboxHost, n: number, prefix = 'b'): Promise<ContainerNs[]> {
  const out: ContainerNs[] = [];
  for (let i = 1; i <= n; i++) out.push(await host.addContainer(`${prefix}${i}`));
  return out;
}

test('N containers in one command: distinct addresses, peers, gateway, DNS file each; one pending record at most; an array in -o json', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const cs = await containers(host, 5);
  const list = await host.voltJson<Attachment[]>(['net', 'connect', 'backend', ...cs.map((c) => c.netns), '-o', 'json']);
  t.true(Array.isArray(list));
  t.deepEqual(list.map((a) => a.workload), cs.map((c) => c.netns), 'in the order given');
  t.deepEqual(list.map((a) => a.ip), ['10.30.0.100', '10.30.0.101', '10.30.0.102', '10.30.0.103', '10.30.0.104']);
  t.is(new Set(list.map((a) => a.mac)).size, 5);
  t.true(list.every((a) => a.ifname === 'eth0' && a.network === 'backend'));
  const state = await assertConsistent(t, host, cs);
  t.is(state.attachments.length, 5);
  for (const [i, c] of cs.entries()) {
    const routes = await c.execJson<{ gateway?: string; dev: string }[]>('ip', ['-j', 'route', 'show', 'default']);
    t.deepEqual(routes.map((r) => [r.gateway, r.dev]), [['10.30.0.1', 'eth0']], `default route in ${c.netns}`);
    t.true(await ping(c, '10.30.0.1'), `${c.netns} → gateway`);
    t.true(await ping(c, list[(i + 1) % cs.length]!.ip), `${c.netns} → its neighbour`);
    t.regex(fs.readFileSync(path.join(host.root, 'etc/netns', c.netns, 'resolv.conf'), 'utf8'), /nameserver 10\.30\.0\.1/);
  }
  // Table output: one line per workload.
  const more = await containers(host, 2, 'm');
  const r = await host.voltOk(['net', 'connect', 'backend', ...more.map((c) => c.netns)]);
  t.is(r.stdout.trim().split('\n').length, 2);
  t.regex(r.stdout, /connected .*m1 to backend: eth0 10\.30\.0\.105/);
  // One workload: the single connect's object, as before.
  const one = await host.addContainer('solo');
  const a = await host.voltJson<Attachment>(['net', 'connect', 'backend', one.netns, '-o', 'json']);
  t.false(Array.isArray(a));
  t.is(a.ip, '10.30.0.107');
  // A second network in a batch: eth1, no second default route.
  await host.voltOk(['net', 'create', '--name', 'front', '--subnet', '10.20.0.0/24']);
  const f = await host.voltJson<Attachment[]>(['net', 'connect', 'front', cs[0]!.netns, cs[1]!.netns, '-o', 'json']);
  t.deepEqual(f.map((x) => x.ifname), ['eth1', 'eth1']);
  t.is((await cs[0]!.execJson<unknown[]>('ip', ['-j', 'route', 'show', 'default'])).length, 1);
  await assertConsistent(t, host, [...cs, ...more, one]);
});

test('bad input to a batch: clear error naming the workload, non-zero exit, kernel and state unchanged', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  await host.voltOk(['net', 'create', '--name', 'other', '--subnet', '10.40.0.0/24']);
  await host.voltOk(['vm', 'create', 'db', '--config', writeConfig(host, 'db', guestConfig([{ id: 'eth0', network: 'backend', vhost: false }]))]);
  const [a, b, c] = await containers(host, 3);
  await host.voltOk(['net', 'connect', 'backend', c!.netns]);
  const cases: [string, string[], number, RegExp][] = [
    ['--ip with two', ['net', 'connect', 'backend', a!.netns, b!.netns, '--ip', '10.30.0.50'], 2, /--ip sets the address of one workload/],
    ['--ip6 with two', ['net', 'connect', 'backend', a!.netns, b!.netns, '--ip6', 'fd00::5'], 2, /--ip6 sets the address of one workload/],
    ['--mac with two', ['net', 'connect', 'backend', a!.netns, b!.netns, '--mac', '02:aa:bb:cc:dd:ee'], 2, /--mac sets the address of one workload/],
    ['a name twice', ['net', 'connect', 'backend', a!.netns, b!.netns, a!.netns], 2, /workload 3 of 3\): .* is named twice \(also workload 1\)/],
    ['an unknown workload third', ['net', 'connect', 'backend', a!.netns, b!.netns, 'ghost'], 3, /connect "ghost" to network "backend" \(workload 3 of 3\): no workload named "ghost"/],
    ['one already connected', ['net', 'connect', 'backend', a!.netns, c!.netns], 4, /\(workload 2 of 2\): already connected/],
    ['a VM among containers', ['net', 'connect', 'other', a!.netns, 'db'], 2, /\(workload 2 of 2\): "db" is a VM; VMs are connected one per command/],
    ['unknown network', ['net', 'connect', 'nonet', a!.netns, b!.netns], 3, /network "nonet" does not exist/],
  ];
  for (const [title, args, exit, stderr] of cases) {
    const before = [await snapshot(host), await inside([a!, b!, c!])];
    const r = await host.volt(args);
    t.is(r.code, exit, `${title}: ${r.stderr}`);
    t.regex(r.stderr, stderr, title);
    t.deepEqual([await snapshot(host), await inside([a!, b!, c!])], before, `${title}: nothing changed`);
  }
});

test('a kernel failure at workload k of N undoes every workload: kernel and state byte-identical, the error names k', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const cs = await containers(host, 4);
  await host.voltOk(['net', 'connect', 'backend', cs[3]!.netns]);
  // Workload 3's host end name is taken by a link that is not a veth: its `ip link add` fails.
  const blocker = vethHostName(cs[2]!.netns, 'backend');
  t.is((await host.exec('ip', ['link', 'add', blocker, 'type', 'bridge'])).code, 0);
  const before = [await snapshot(host), await inside(cs)];
  const journalBefore = fs.existsSync(path.join(host.root, 'var/lib/volt/journal.json'));
  const r = await host.volt(['net', 'connect', 'backend', cs[0]!.netns, cs[1]!.netns, cs[2]!.netns]);
  t.is(r.code, 5, r.stderr);
  t.regex(r.stderr, /connect 3 workloads to network "backend": workload 3 of 3 \(".*b3"\): .*create veth .*File exists/);
  t.deepEqual([await snapshot(host), await inside(cs)], before, 'kernel (host and containers) and state.json unchanged');
  t.is(fs.existsSync(path.join(host.root, 'var/lib/volt/journal.json')), journalBefore, 'no pending record left');
  // Without the blocker the same batch goes through.
  await host.exec('ip', ['link', 'del', blocker]);
  await host.voltOk(['net', 'connect', 'backend', cs[0]!.netns, cs[1]!.netns, cs[2]!.netns]);
  t.is((await assertConsistent(t, host, cs)).attachments.length, 4);
});

const fault = (point: string) => ({ env: { VOLT_FAULT: `connect-batch:${point}` } });
const last = OPERATION_STEPS['connect-batch'][OPERATION_STEPS['connect-batch'].length - 1]!;

for (const point of faultPoints('connect-batch')) {
  test(`a batch killed at connect-batch:${point} is settled by net up; check clean; the batch then works`, async (t) => {
    const host = await SandboxHost.create(t, { uplink: false });
    await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
    const cs = await containers(host, 4);
    await host.voltOk(['net', 'connect', 'backend', cs[0]!.netns]);
    const batch = cs.slice(1).map((c) => c.netns);
    const r = await host.volt(['net', 'connect', 'backend', ...batch], fault(point));
    t.is(r.code, KILLED, r.stderr);
    const pending = readState(host).pending as unknown as { op: string; connects: { attachment: { ip: string; hostIfname: string } }[] }[];
    t.is(pending.length, 1, 'one record for the whole batch');
    t.is(pending[0]!.op, 'connect-batch');
    t.deepEqual(pending[0]!.connects.map((c) => c.attachment.ip), ['10.30.0.101', '10.30.0.102', '10.30.0.103'], 'every reserved address is in it');
    const check = await host.volt(['net', 'check', '-o', 'json']);
    t.is(check.code, 6);
    t.deepEqual((JSON.parse(check.stdout) as { findings: { kind: string }[] }).findings.map((f) => f.kind), ['pending-connect-batch']);

    const up = await host.voltOk(['net', 'up']);
    const forward = point === last;
    t.regex(up.stdout, forward ? /connect-batch .* rolled forward/ : /connect-batch .* rolled back/);
    await assertConsistent(t, host, cs);
    const connected = readState(host).attachments.filter((a) => batch.includes(a.workload)).length;
    t.is(connected, forward ? 3 : 0);
    if (!forward) await host.voltOk(['net', 'connect', 'backend', ...batch]);
    const s = await assertConsistent(t, host, cs);
    t.deepEqual(s.attachments.map((a) => a.ip).sort(), ['10.30.0.100', '10.30.0.101', '10.30.0.102', '10.30.0.103']);
    if (forward) t.regex(fs.readFileSync(path.join(host.root, 'etc/netns', cs[3]!.netns, 'resolv.conf'), 'utf8'), /nameserver 10\.30\.0\.1/, 'rolled forward: the listeners ran');
  });
}

test('a dual-stack batch: every container gets its IPv6 address, the v6 default route and no RAs; ping6 between them', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24', '--subnet6', 'fd00:30::/64']);
  const cs = await containers(host, 3);
  const list = await host.voltJson<(Attachment & { ip6?: string })[]>(['net', 'connect', 'backend', ...cs.map((c) => c.netns), '-o', 'json']);
  t.deepEqual(list.map((a) => a.ip6), ['fd00:30::64', 'fd00:30::65', 'fd00:30::66']);
  for (const [i, c] of cs.entries()) {
    const v6 = (await c.execJson<{ addr_info: { local: string; scope: string }[] }[]>('ip', ['-j', '-6', 'addr', 'show', 'dev', 'eth0']))[0]!.addr_info;
    t.true(v6.some((a) => a.local === list[i]!.ip6 && a.scope === 'global'), `v6 address in ${c.netns}`);
    const r6 = await c.execJson<{ gateway?: string; dev: string }[]>('ip', ['-j', '-6', 'route', 'show', 'default']);
    t.deepEqual(r6.map((r) => [r.gateway, r.dev]), [['fd00:30::1', 'eth0']]);
    t.is((await c.exec('sysctl', ['-n', 'net.ipv6.conf.eth0.accept_ra'])).stdout.trim(), '0');
  }
  t.true(await ping(cs[0]!, 'fd00:30::66', { count: 2 }), 'ping6 container → container');
  t.true(await ping(cs[2]!, '10.30.0.100'), 'and IPv4');
  await assertConsistent(t, host, cs);
});
