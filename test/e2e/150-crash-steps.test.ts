import test from 'ava';
import { SandboxHost } from '../harness';
import { OPERATION_STEPS, faultPoints } from '@volt/core/dist/state/journal';
import { KILLED, assertConsistent, readState } from './150-crash-lib';

// Every journaled operation, killed by VOLT_FAULT at every step boundary, is settled by
// `volt net up` into a consistent host, and the operation then works again.

const fault = (op: string, point: string) => ({ env: { VOLT_FAULT: `${op}:${point}` } });
const lastStep = (op: keyof typeof OPERATION_STEPS): string => OPERATION_STEPS[op][OPERATION_STEPS[op].length - 1]!;

test('the step table is what `volt debug steps` lists', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const listed = await host.voltJson<{ op: string; faultPoints: string[] }[]>(['debug', 'steps', '-o', 'json']);
  t.deepEqual(
    listed.map((o) => [o.op, o.faultPoints]),
    Object.keys(OPERATION_STEPS).map((op) => [op, faultPoints(op as keyof typeof OPERATION_STEPS)]),
  );
});

for (const point of faultPoints('connect')) {
  test(`connect killed at connect:${point}`, async (t) => {
    const host = await SandboxHost.create(t, { uplink: false });
    await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
    const [a, b, c] = [await host.addContainer('a'), await host.addContainer('b'), await host.addContainer('c')];
    await host.voltOk(['net', 'connect', 'backend', a.netns]);
    const r = await host.volt(['net', 'connect', 'backend', b.netns], fault('connect', point));
    t.is(r.code, KILLED, r.stderr);
    t.is(readState(host).pending?.length, 1, 'the intent is on disk');
    // Check sees the interrupted connect as a finding, with its kind, and fails.
    const check = await host.volt(['net', 'check', '-o', 'json']);
    t.is(check.code, 6);
    t.deepEqual((JSON.parse(check.stdout) as { findings: { kind: string }[] }).findings.map((f) => f.kind), ['pending-connect']);

    const up = await host.voltOk(['net', 'up']);
    const forward = point === lastStep('connect');
    t.regex(up.stdout, forward ? /connect .* rolled forward/ : /connect .* rolled back/);
    await assertConsistent(t, host, [a, b, c]);
    const connected = readState(host).attachments.some((x) => x.workload === b.netns);
    t.is(connected, forward);
    // Again: b (unless already connected) and c connect, all addresses distinct.
    if (!connected) await host.voltOk(['net', 'connect', 'backend', b.netns]);
    await host.voltOk(['net', 'connect', 'backend', c.netns]);
    const s = await assertConsistent(t, host, [a, b, c]);
    t.is(s.attachments.length, 3);
  });
}

test('a pending connect is settled by the next connect too, and its address is not handed out twice', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const [a, b] = [await host.addContainer('a'), await host.addContainer('b')];
  t.is((await host.volt(['net', 'connect', 'backend', a.netns], fault('connect', 'address'))).code, KILLED);
  await host.voltOk(['net', 'connect', 'backend', b.netns]);
  const s = await assertConsistent(t, host, [a, b]);
  t.deepEqual(s.attachments.map((x) => x.ip).sort(), ['10.30.0.100', '10.30.0.101']);
});

for (const point of faultPoints('disconnect')) {
  test(`disconnect killed at disconnect:${point} is rolled forward`, async (t) => {
    const host = await SandboxHost.create(t, { uplink: false });
    await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
    const [a, b] = [await host.addContainer('a'), await host.addContainer('b')];
    await host.voltOk(['net', 'connect', 'backend', a.netns]);
    await host.voltOk(['net', 'connect', 'backend', b.netns]);
    const r = await host.volt(['net', 'disconnect', b.netns, 'backend'], fault('disconnect', point));
    t.is(r.code, KILLED, r.stderr);
    const up = await host.voltOk(['net', 'up']);
    t.regex(up.stdout, /disconnect .* rolled forward/);
    const s = await assertConsistent(t, host, [a, b]);
    t.false(s.attachments.some((x) => x.workload === b.netns));
    // The operation works again: connect and disconnect b.
    await host.voltOk(['net', 'connect', 'backend', b.netns]);
    await host.voltOk(['net', 'disconnect', b.netns, 'backend']);
    await assertConsistent(t, host, [a, b]);
  });
}

for (const point of faultPoints('net-create')) {
  test(`net create killed at net-create:${point}`, async (t) => {
    const host = await SandboxHost.create(t, { uplink: false });
    const r = await host.volt(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24'], fault('net-create', point));
    t.is(r.code, KILLED, r.stderr);
    const up = await host.voltOk(['net', 'up']);
    const forward = point === lastStep('net-create');
    t.regex(up.stdout, forward ? /net-create .* rolled forward/ : /net-create .* rolled back/);
    await assertConsistent(t, host, []);
    const bridges = (await host.execJson<{ ifname: string }[]>('ip', ['-j', 'link', 'show', 'type', 'bridge'])).map((l) => l.ifname).sort();
    // Rolled back, `net up` makes the default network (as on any empty host); backend is gone.
    t.deepEqual(bridges, forward ? ['volt-backend', 'volt0'] : ['volt0']);
    t.deepEqual(Object.keys(readState(host).networks).sort(), forward ? ['backend', 'volt0'] : ['volt0']);
    if (!forward) await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
    const c = await host.addContainer('c');
    await host.voltOk(['net', 'connect', 'backend', c.netns]);
    await assertConsistent(t, host, [c]);
  });
}

for (const point of faultPoints('net-delete')) {
  test(`net delete killed at net-delete:${point} is rolled forward`, async (t) => {
    const host = await SandboxHost.create(t, { uplink: false });
    await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
    const r = await host.volt(['net', 'delete', 'backend'], fault('net-delete', point));
    t.is(r.code, KILLED, r.stderr);
    const up = await host.voltOk(['net', 'up']);
    t.regex(up.stdout, /net-delete .* rolled forward/);
    await assertConsistent(t, host, []);
    t.deepEqual(Object.keys(readState(host).networks), ['volt0']);
    t.not((await host.exec('ip', ['link', 'show', 'volt-backend'])).code, 0, 'the bridge is gone');
    // And the network can be made and deleted again.
    await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
    await host.voltOk(['net', 'delete', 'backend']);
    await assertConsistent(t, host, []);
  });
}
