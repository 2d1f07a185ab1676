import test, { type ExecutionContext } from 'ava';
import { SandboxHost, type ContainerNs } from '../harness';
import { OPERATION_STEPS, faultPoints } from '@volt/core/dist/state/journal';
import { KILLED, assertConsistent, kernelDuplicates, readState } from './150-crash-lib';

// The kill points of 150-crash-steps on a dual-stack network (--subnet6): a connect reserves an
// IPv6 address as well as an IPv4 one in its pending record, and a firewall rule naming the
// workload puts both into the nft rule set. Killed at every step boundary, then `volt net up`:
// check clean (no drift, no pending record, no orphan link, address or nft object), every
// container link holds exactly its recorded IPv4 and IPv6 address, no address (of either
// family) is held twice in the kernel, the nft table names the workload's IPv6 address exactly
// when state has the attachment, and the operation works again.

const fault = (op: string, point: string) => ({ env: { VOLT_FAULT: `${op}:${point}` } });
type Op = keyof typeof OPERATION_STEPS;
const lastStep = (op: Op): string => OPERATION_STEPS[op][OPERATION_STEPS[op].length - 1]!;
const DUAL = ['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24', '--subnet6', 'fd00:30::/64'];

async function table(host: SandboxHost): Promise<string> {
  const r = await host.exec('nft', ['list', 'table', 'inet', 'volt']);
  return r.code === 0 ? r.stdout : '';
}

/** Does the nft rule set name this IPv6 address (not as the prefix of a longer one)? */
async function nftNames(host: SandboxHost, ip6: string): Promise<boolean> {
  return new RegExp(`(^|[^0-9a-f:])${ip6.replace(/[.]/g, '\\.')}(?![0-9a-f:])`, 'm').test(await table(host));
}

/** A rule naming the workload: a connect's listener adds both of its addresses to the nft rule set. */
function rule(w: ContainerNs): string[] {
  return ['net', 'firewall', 'add', '--name', `no-${w.name}`, '--source', 'any', '--dest', w.netns, '--port', '5433', '--proto', 'tcp', '--action', 'drop'];
}

function ip6Of(host: SandboxHost, w: ContainerNs): string | undefined {
  return readState(host).attachments.find((a) => a.workload === w.netns)?.ip6;
}

async function pendingFinding(t: ExecutionContext, host: SandboxHost, op: Op): Promise<void> {
  const check = await host.volt(['net', 'check', '-o', 'json']);
  t.is(check.code, 6, check.stdout);
  t.deepEqual((JSON.parse(check.stdout) as { findings: { kind: string }[] }).findings.map((f) => f.kind), [`pending-${op}`]);
}

for (const point of faultPoints('connect')) {
  test(`dual-stack: connect killed at connect:${point}`, async (t) => {
    const host = await SandboxHost.create(t, { uplink: false });
    await host.voltOk(DUAL);
    const [a, b, c] = [await host.addContainer('a'), await host.addContainer('b'), await host.addContainer('c')];
    await host.voltOk(['net', 'connect', 'backend', a.netns]);
    await host.voltOk(rule(b));
    const r = await host.volt(['net', 'connect', 'backend', b.netns], fault('connect', point));
    t.is(r.code, KILLED, r.stderr);
    // The intent reserves both addresses.
    const rec = readState(host).pending?.[0];
    t.is(rec?.op, 'connect');
    const reserved6 = rec?.attachment?.ip6;
    t.truthy(reserved6, 'the pending record reserves an IPv6 address');
    t.not(reserved6, ip6Of(host, a), 'not the address of a');
    await pendingFinding(t, host, 'connect');

    const up = await host.voltOk(['net', 'up']);
    const forward = point === lastStep('connect');
    t.regex(up.stdout, forward ? /connect .* rolled forward/ : /connect .* rolled back/);
    if (!forward) t.true(up.stdout.includes(`released ${rec?.attachment?.ip} and ${reserved6}`), up.stdout);
    await assertConsistent(t, host, [a, b, c]);
    t.is(ip6Of(host, b), forward ? reserved6 : undefined, 'b holds the reserved IPv6 address exactly when rolled forward');
    t.is(await nftNames(host, reserved6!), forward, 'the rule names the reserved IPv6 address exactly when rolled forward');
    // Again: b (unless connected) and c; three distinct IPv6 addresses, the rule names b's.
    if (!forward) await host.voltOk(['net', 'connect', 'backend', b.netns]);
    await host.voltOk(['net', 'connect', 'backend', c.netns]);
    const s = await assertConsistent(t, host, [a, b, c]);
    t.is(new Set(s.attachments.map((x) => x.ip6)).size, 3);
    t.true(await nftNames(host, ip6Of(host, b)!));
    t.false(await nftNames(host, ip6Of(host, c)!), 'the rule names b only');
  });
}

test('dual-stack: a connect killed with its IPv6 address configured is settled by the next connect, which gets another IPv6 address', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(DUAL);
  const [a, b] = [await host.addContainer('a'), await host.addContainer('b')];
  t.is((await host.volt(['net', 'connect', 'backend', a.netns], fault('connect', 'address'))).code, KILLED);
  const reserved = readState(host).pending?.[0]?.attachment;
  await host.voltOk(['net', 'connect', 'backend', b.netns]);
  const s = await assertConsistent(t, host, [a, b]);
  t.deepEqual(s.attachments.map((x) => [x.workload, x.ip, x.ip6]).sort(), [
    [a.netns, reserved?.ip, reserved?.ip6],
    [b.netns, '10.30.0.101', 'fd00:30::65'],
  ].sort());
});

test('dual-stack: a stray IPv6 address inside a workload (the one another workload holds) is a duplicate-address finding that net up removes', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(DUAL);
  const [a, b] = [await host.addContainer('a'), await host.addContainer('b')];
  await host.voltOk(['net', 'connect', 'backend', a.netns]);
  await host.voltOk(['net', 'connect', 'backend', b.netns]);
  const aIp6 = ip6Of(host, a)!;
  // What a half-settled crash could leave: a's address on b's eth0 too (nodad: both stay usable).
  await b.execOk('ip', ['-6', 'addr', 'add', `${aIp6}/64`, 'dev', 'eth0', 'nodad']);
  t.deepEqual(await kernelDuplicates(host, [a, b]), [`${aIp6} on ${a.netns}/eth0, ${b.netns}/eth0`]);
  const check = await host.volt(['net', 'check', '-o', 'json']);
  t.is(check.code, 6, check.stdout);
  const findings = (JSON.parse(check.stdout) as { findings: { kind: string; object: string }[] }).findings;
  t.deepEqual(findings.map((f) => `${f.kind} ${f.object}`), [`duplicate-address ${aIp6}`]);
  await host.voltOk(['net', 'up']);
  await assertConsistent(t, host, [a, b]);
});

for (const point of faultPoints('disconnect')) {
  test(`dual-stack: disconnect killed at disconnect:${point} is rolled forward`, async (t) => {
    const host = await SandboxHost.create(t, { uplink: false });
    await host.voltOk(DUAL);
    const [a, b] = [await host.addContainer('a'), await host.addContainer('b')];
    await host.voltOk(['net', 'connect', 'backend', a.netns]);
    await host.voltOk(['net', 'connect', 'backend', b.netns]);
    await host.voltOk(rule(b));
    const gone6 = ip6Of(host, b)!;
    t.true(await nftNames(host, gone6));
    const r = await host.volt(['net', 'disconnect', b.netns, 'backend'], fault('disconnect', point));
    t.is(r.code, KILLED, r.stderr);
    await pendingFinding(t, host, 'disconnect');
    const up = await host.voltOk(['net', 'up']);
    t.regex(up.stdout, /disconnect .* rolled forward/);
    await assertConsistent(t, host, [a, b]);
    t.is(ip6Of(host, b), undefined);
    t.false(await nftNames(host, gone6), 'the rule no longer names b\'s IPv6 address');
    // The operation works again; the address can be handed out again (to b).
    await host.voltOk(['net', 'connect', 'backend', b.netns]);
    t.true(await nftNames(host, ip6Of(host, b)!));
    await host.voltOk(['net', 'disconnect', b.netns, 'backend']);
    await assertConsistent(t, host, [a, b]);
  });
}

for (const point of faultPoints('net-create')) {
  test(`dual-stack: net create --subnet6 killed at net-create:${point}`, async (t) => {
    const host = await SandboxHost.create(t, { uplink: false });
    const r = await host.volt(DUAL, fault('net-create', point));
    t.is(r.code, KILLED, r.stderr);
    await pendingFinding(t, host, 'net-create');
    const up = await host.voltOk(['net', 'up']);
    const forward = point === lastStep('net-create');
    t.regex(up.stdout, forward ? /net-create .* rolled forward/ : /net-create .* rolled back/);
    await assertConsistent(t, host, []);
    t.deepEqual(Object.keys(readState(host).networks).sort(), forward ? ['backend', 'volt0'] : ['volt0']);
    t.is(/fd00:30::/.test(await table(host)), forward, 'the nft table has IPv6 objects of backend exactly when rolled forward');
    const gw6 = (await host.execJson<{ addr_info: { local: string }[] }[]>('ip', ['-j', '-6', 'addr', 'show', 'dev', 'volt-backend']).catch(() => [])).flatMap((l) => l.addr_info.map((x) => x.local));
    t.is(gw6.includes('fd00:30::1'), forward);
    if (!forward) await host.voltOk(DUAL);
    const c = await host.addContainer('c');
    await host.voltOk(['net', 'connect', 'backend', c.netns]);
    const s = await assertConsistent(t, host, [c]);
    t.truthy(s.attachments[0]?.ip6, 'a connect on the (re-)made network gets an IPv6 address');
  });
}

for (const point of faultPoints('net-delete')) {
  test(`dual-stack: net delete killed at net-delete:${point} is rolled forward`, async (t) => {
    const host = await SandboxHost.create(t, { uplink: false });
    await host.voltOk(['net', 'create', '--name', 'other', '--subnet', '10.40.0.0/24', '--subnet6', 'fd00:40::/64']);
    await host.voltOk(DUAL);
    t.true(/fd00:30::/.test(await table(host)));
    const r = await host.volt(['net', 'delete', 'backend'], fault('net-delete', point));
    t.is(r.code, KILLED, r.stderr);
    await pendingFinding(t, host, 'net-delete');
    const up = await host.voltOk(['net', 'up']);
    t.regex(up.stdout, /net-delete .* rolled forward/);
    await assertConsistent(t, host, []);
    const nets = Object.keys(readState(host).networks);
    t.false(nets.includes('backend'));
    t.true(nets.includes('other'));
    t.false(/fd00:30::|volt-backend/.test(await table(host)), 'no IPv6 (or other) nft object of backend is left');
    t.true(/fd00:40::/.test(await table(host)), 'the other dual-stack network keeps its own');
    t.not((await host.exec('ip', ['link', 'show', 'volt-backend'])).code, 0, 'the bridge is gone');
    await host.voltOk(DUAL);
    await host.voltOk(['net', 'delete', 'backend']);
    await assertConsistent(t, host, []);
  });
}
