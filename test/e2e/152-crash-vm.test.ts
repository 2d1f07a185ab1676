import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import { SandboxHost, guestConfig } from '../harness';
import { OPERATION_STEPS, faultPoints } from '@volt/core/dist/state/journal';
import { KILLED, assertConsistent, readState } from './150-crash-lib';
import { inspectVm, writeConfig } from './300-vm-scenario';

// The VM operations, killed by VOLT_FAULT at every step boundary, are settled by `volt net up`
// into a consistent host (check clean, no TAP or QEMU nobody owns, no lease of a rolled-back NIC),
// and the operation then works again. Direct drivers (direct-tap, dnsmasq); QEMU only where the
// operation needs it.

const fault = (op: string, point: string) => ({ env: { VOLT_FAULT: `${op}:${point}` } });
const lastStep = (op: keyof typeof OPERATION_STEPS): string => OPERATION_STEPS[op][OPERATION_STEPS[op].length - 1]!;

interface Link {
  ifname: string;
  linkinfo?: { info_kind?: string };
}

async function taps(host: SandboxHost): Promise<string[]> {
  return (await host.execJson<Link[]>('ip', ['-j', '-d', 'link', 'show'])).filter((l) => l.linkinfo?.info_kind === 'tun').map((l) => l.ifname).sort();
}

/** PIDs of QEMUs started for this VM (its UUID on the command line). */
function qemuOf(uuid: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        return fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').includes(uuid);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function withVm(t: ExecutionContext): Promise<{ host: SandboxHost; uuid: string }> {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  await host.voltOk(['vm', 'create', 'db', '--config', writeConfig(host, 'db', guestConfig([{ id: 'eth0', network: 'backend', vhost: false }]))]);
  const uuid = (await inspectVm(host, 'db')).uuid;
  // Never leave a QEMU behind, whatever the test did.
  t.teardown(() => {
    for (const pid of qemuOf(uuid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
  return { host, uuid };
}

/** After recovery: consistent, and the VM's TAPs and QEMU exist exactly when it is running. */
async function assertVm(t: ExecutionContext, host: SandboxHost, uuid: string, running: boolean): Promise<void> {
  await assertConsistent(t, host, []);
  const vm = await inspectVm(host, 'db');
  t.is(vm.state, running ? 'running' : 'stopped');
  t.deepEqual(await taps(host), running ? vm.nics.map((n) => n.tap).sort() : [], 'TAPs on the host');
  t.is(qemuOf(uuid).length, running ? 1 : 0, 'QEMU processes of the VM');
}

for (const point of faultPoints('vm-start')) {
  test(`vm start killed at vm-start:${point}`, async (t) => {
    const { host, uuid } = await withVm(t);
    const r = await host.volt(['vm', 'start', 'db'], fault('vm-start', point));
    t.is(r.code, KILLED, r.stderr);
    t.is(readState(host).pending?.length, 1, 'the intent is on disk');
    const check = await host.volt(['net', 'check', '-o', 'json']);
    t.is(check.code, 6, check.stdout);
    t.deepEqual((JSON.parse(check.stdout) as { findings: { kind: string }[] }).findings.map((f) => f.kind), ['pending-vm-start']);

    const up = await host.voltOk(['net', 'up']);
    const forward = point === lastStep('vm-start');
    t.regex(up.stdout, forward ? /vm-start .* rolled forward/ : /vm-start .* rolled back/);
    await assertVm(t, host, uuid, forward);
    const s = readState(host);
    t.is(s.attachments.some((a) => a.workload === 'db'), forward, 'the address is kept only by a start that completed');

    // Again: start (unless it is running) and stop.
    if (!forward) await host.voltOk(['vm', 'start', 'db']);
    await assertVm(t, host, uuid, true);
    t.deepEqual(readState(host).attachments.map((a) => a.ip), ['10.30.0.2']);
    await host.voltOk(['vm', 'stop', 'db', '--force']);
    await assertVm(t, host, uuid, false);
  });
}

for (const point of faultPoints('vm-stop')) {
  test(`vm stop killed at vm-stop:${point} is rolled forward`, async (t) => {
    const { host, uuid } = await withVm(t);
    await host.voltOk(['vm', 'start', 'db']);
    const r = await host.volt(['vm', 'stop', 'db', '--force'], fault('vm-stop', point));
    t.is(r.code, KILLED, r.stderr);
    const up = await host.voltOk(['net', 'up']);
    t.regex(up.stdout, /vm-stop .* rolled forward/);
    await assertVm(t, host, uuid, false);
    await host.voltOk(['vm', 'start', 'db']);
    await host.voltOk(['vm', 'stop', 'db', '--force']);
    await assertVm(t, host, uuid, false);
  });
}

// A stopped VM: connect and disconnect change state and the guests' DHCP only (no QEMU needed).

for (const point of faultPoints('vm-connect')) {
  test(`net connect of a VM killed at vm-connect:${point}`, async (t) => {
    const { host, uuid } = await withVm(t);
    await host.voltOk(['net', 'create', '--name', 'frontend', '--subnet', '10.20.0.0/24']);
    const r = await host.volt(['net', 'connect', 'frontend', 'db'], fault('vm-connect', point));
    t.is(r.code, KILLED, r.stderr);
    const check = await host.volt(['net', 'check', '-o', 'json']);
    t.is(check.code, 6, check.stdout);
    t.deepEqual((JSON.parse(check.stdout) as { findings: { kind: string }[] }).findings.map((f) => f.kind), ['pending-vm-connect']);
    const up = await host.voltOk(['net', 'up']);
    const forward = point === lastStep('vm-connect');
    t.regex(up.stdout, forward ? /vm-connect .* rolled forward/ : /vm-connect .* rolled back/);
    await assertVm(t, host, uuid, false);
    t.is(readState(host).attachments.some((a) => a.network === 'frontend'), forward);
    if (!forward) await host.voltOk(['net', 'connect', 'frontend', 'db']);
    const s = await assertConsistent(t, host, []);
    t.deepEqual(s.attachments.map((a) => `${a.network}/${a.ip}`).sort(), ['frontend/10.20.0.2']);
  });
}

for (const point of faultPoints('vm-disconnect')) {
  test(`net disconnect of a VM killed at vm-disconnect:${point} is rolled forward`, async (t) => {
    const { host, uuid } = await withVm(t);
    await host.voltOk(['net', 'connect', 'backend', 'db']);
    const r = await host.volt(['net', 'disconnect', 'db', 'backend'], fault('vm-disconnect', point));
    t.is(r.code, KILLED, r.stderr);
    const up = await host.voltOk(['net', 'up']);
    t.regex(up.stdout, /vm-disconnect .* rolled forward/);
    await assertVm(t, host, uuid, false);
    t.deepEqual(readState(host).attachments, []);
    // The operation works again.
    await host.voltOk(['net', 'connect', 'backend', 'db']);
    await host.voltOk(['net', 'disconnect', 'db', 'backend']);
    await assertVm(t, host, uuid, false);
  });
}

// vm delete of a stopped VM (no QEMU): always rolled forward — the VM, its attachments, its lease
// and its runtime directory are gone after `net up`, and a VM of that name can be made and deleted again.

for (const point of faultPoints('vm-delete')) {
  test(`vm delete killed at vm-delete:${point} is rolled forward`, async (t) => {
    const { host } = await withVm(t);
    await host.voltOk(['net', 'connect', 'backend', 'db']);
    const dhcpDir = `${host.root}/run/volt/dhcp/volt-backend`;
    t.true(fs.existsSync(dhcpDir), 'the guest DHCP serves the lease of the connected VM');
    const r = await host.volt(['vm', 'delete', 'db'], fault('vm-delete', point));
    t.is(r.code, KILLED, r.stderr);
    t.deepEqual(readState(host).pending?.map((p) => (p as { op: string }).op), ['vm-delete'], 'the intent is on disk');
    const check = await host.volt(['net', 'check', '-o', 'json']);
    t.is(check.code, 6, check.stdout);
    t.deepEqual((JSON.parse(check.stdout) as { findings: { kind: string }[] }).findings.map((f) => f.kind), ['pending-vm-delete']);

    const up = await host.voltOk(['net', 'up']);
    t.regex(up.stdout, /vm-delete .* rolled forward/);
    const s = await assertConsistent(t, host, []);
    t.deepEqual(s.attachments, [], 'no attachment of the deleted VM');
    t.false('db' in (readState(host) as unknown as { workloads: Record<string, unknown> }).workloads, 'the VM is gone from state');
    t.false(fs.existsSync(dhcpDir), 'no lease served for it');
    t.false(fs.existsSync(`${host.root}/run/volt/vm/db`), 'no runtime directory');
    t.is((await host.volt(['vm', 'inspect', 'db'])).code, 3);
    // Again: create, connect and delete a VM of that name.
    await host.voltOk(['vm', 'create', 'db', '--config', writeConfig(host, 'db', guestConfig([{ id: 'eth0', network: 'backend', vhost: false }]))]);
    await host.voltOk(['net', 'connect', 'backend', 'db']);
    await host.voltOk(['vm', 'delete', 'db']);
    t.deepEqual((await assertConsistent(t, host, [])).attachments, []);
    t.false(fs.existsSync(dhcpDir));
  });
}
