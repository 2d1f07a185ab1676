import * as fs from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { SandboxHost } from '../harness';
import { OPERATION_STEPS, faultPoints } from '@volt/core/dist/state/journal';
import { KILLED, assertConsistent, journalFile, readState } from './150-crash-lib';
import { workload, type Workload } from './400-lib';

// Port forwards, firewall rules and policies, killed by VOLT_FAULT at every step boundary:
// `volt net up` settles the pending record (rolled back or forward, as journal-firewall.ts says),
// `volt net check` is then clean (kernel == state: the forward, rule or policy is in the nft
// table exactly when it is in state), and the operation works again.

const fault = (op: string, point: string) => ({ env: { VOLT_FAULT: `${op}:${point}` } });
type Op = keyof typeof OPERATION_STEPS;
const lastStep = (op: Op): string => OPERATION_STEPS[op][OPERATION_STEPS[op].length - 1]!;

interface Firewallish {
  portForwards: { hostPort: number }[];
  firewall: { rules: { name: string }[] };
  policies: Record<string, unknown>;
  pending?: { op: string; steps: { name: string; done: boolean }[] }[];
}

const stateOf = (host: SandboxHost): Firewallish => readState(host) as unknown as Firewallish;

async function table(host: SandboxHost): Promise<string> {
  return (await host.execOk('nft', ['list', 'table', 'inet', 'volt'])).stdout;
}

async function setup(t: ExecutionContext): Promise<{ host: SandboxHost; web: Workload }> {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'web', 'backend');
  return { host, web };
}

/**
 * The kill left exactly one pending record of `op`, which `net check` reports (exit 6) as pending-OP;
 * the record went to the journal file, the state file was not written (it is written once per change, at the commit).
 */
async function interrupted(t: ExecutionContext, host: SandboxHost, op: Op, run: () => Promise<{ code: number; stderr: string }>): Promise<void> {
  const stateFile = `${host.root}/var/lib/volt/state.json`;
  const before = fs.readFileSync(stateFile, 'utf8');
  const r = await run();
  t.is(r.code, KILLED, r.stderr);
  t.is(fs.readFileSync(stateFile, 'utf8'), before, 'the state file is untouched until the commit');
  t.deepEqual(stateOf(host).pending?.map((p) => p.op), [op], 'the intent is on disk');
  const check = await host.volt(['net', 'check', '-o', 'json']);
  t.is(check.code, 6, check.stdout);
  t.true((JSON.parse(check.stdout) as { findings: { kind: string }[] }).findings.some((f) => f.kind === `pending-${op}`), check.stdout);
}

async function settled(t: ExecutionContext, host: SandboxHost, web: Workload, op: Op, forward: boolean): Promise<void> {
  const up = await host.voltOk(['net', 'up']);
  t.regex(up.stdout, new RegExp(`${op} .* rolled ${forward ? 'forward' : 'back'}`), up.stdout);
  await assertConsistent(t, host, [['web', web.ns]]);
  // A second `up` changes nothing.
  t.is((await host.volt(['net', 'check'])).code, 0);
}

const PORT = ['--host-port', '8080', '--target', 'web', '--target-port', '80'];

for (const point of faultPoints('port-add')) {
  test(`port add killed at port-add:${point}`, async (t) => {
    const { host, web } = await setup(t);
    await interrupted(t, host, 'port-add', () => host.volt(['net', 'port', 'add', ...PORT], fault('port-add', point)));
    const forward = point === lastStep('port-add');
    await settled(t, host, web, 'port-add', forward);
    t.is(stateOf(host).portForwards.length, forward ? 1 : 0);
    t.is(/tcp \. 8080 : 10\.30\.0\.\d+ \. 80/.test(await table(host)), forward, 'the kernel has the forward exactly when state does');
    // Again: (re)added, deleted, added.
    if (forward) await host.voltOk(['net', 'port', 'delete', '--host-port', '8080']);
    await host.voltOk(['net', 'port', 'add', ...PORT]);
    await assertConsistent(t, host, [['web', web.ns]]);
    t.is(stateOf(host).portForwards.length, 1);
  });
}

for (const point of faultPoints('port-delete')) {
  test(`port delete killed at port-delete:${point} is rolled forward`, async (t) => {
    const { host, web } = await setup(t);
    await host.voltOk(['net', 'port', 'add', ...PORT]);
    await interrupted(t, host, 'port-delete', () => host.volt(['net', 'port', 'delete', '--host-port', '8080'], fault('port-delete', point)));
    await settled(t, host, web, 'port-delete', true);
    t.is(stateOf(host).portForwards.length, 0);
    t.false(/tcp \. 8080/.test(await table(host)), 'the forward is gone from the kernel');
    await host.voltOk(['net', 'port', 'add', ...PORT]);
    await host.voltOk(['net', 'port', 'delete', '--host-port', '8080']);
    await assertConsistent(t, host, [['web', web.ns]]);
  });
}

const RULE = ['--name', 'block-ssh', '--source', 'any', '--dest', 'web', '--port', '22', '--proto', 'tcp', '--action', 'drop'];
const POLICY = ['--name', 'to-web', '--from', 'any', '--to', 'web', '--port', '80', '--action', 'allow'];

for (const point of faultPoints('firewall-apply')) {
  test(`firewall rule add killed at firewall-apply:${point}`, async (t) => {
    const { host, web } = await setup(t);
    await host.voltOk(['net', 'firewall', 'add', '--name', 'first', '--source', 'any', '--dest', 'web', '--port', '443', '--proto', 'tcp', '--action', 'accept']);
    await interrupted(t, host, 'firewall-apply', () => host.volt(['net', 'firewall', 'add', ...RULE], fault('firewall-apply', point)));
    const forward = point === lastStep('firewall-apply');
    await settled(t, host, web, 'firewall-apply', forward);
    t.deepEqual(stateOf(host).firewall.rules.map((r) => r.name), forward ? ['first', 'block-ssh'] : ['first']);
    const nft = await table(host);
    t.true(nft.includes('comment "volt:first"'));
    t.is(nft.includes('comment "volt:block-ssh"'), forward, 'the kernel has the rule exactly when state does');
    if (!forward) await host.voltOk(['net', 'firewall', 'add', ...RULE]);
    await host.voltOk(['net', 'firewall', 'delete', '--name', 'block-ssh']);
    await assertConsistent(t, host, [['web', web.ns]]);
  });

  test(`policy create killed at firewall-apply:${point}`, async (t) => {
    const { host, web } = await setup(t);
    await interrupted(t, host, 'firewall-apply', () => host.volt(['net', 'policy', 'create', ...POLICY], fault('firewall-apply', point)));
    const forward = point === lastStep('firewall-apply');
    await settled(t, host, web, 'firewall-apply', forward);
    t.deepEqual(Object.keys(stateOf(host).policies), forward ? ['to-web'] : []);
    // The policy isolates web: its address is in pol_isolated exactly when the policy is in state.
    t.is(new RegExp(`set pol_isolated \\{[^}]*elements = \\{ ${web.ip.replace(/\./g, '\\.')} \\}`).test(await table(host)), forward);
    if (!forward) await host.voltOk(['net', 'policy', 'create', ...POLICY]);
    await host.voltOk(['net', 'policy', 'delete', '--name', 'to-web']);
    await assertConsistent(t, host, [['web', web.ns]]);
  });
}

test('a pending port-add is settled by the next port command, which says so', async (t) => {
  const { host, web } = await setup(t);
  t.is((await host.volt(['net', 'port', 'add', ...PORT], fault('port-add', 'intent'))).code, KILLED);
  const next = await host.voltOk(['net', 'port', 'add', '--host-port', '9090', '--target', 'web', '--target-port', '90']);
  t.regex(next.stderr, /settled an interrupted port-add of port forward 8080\/tcp: rolled back/);
  t.deepEqual(stateOf(host).portForwards.map((f) => f.hostPort), [9090]);
  await assertConsistent(t, host, [['web', web.ns]]);
});

test('killed after the kernel step but before it was recorded: the settlement replaces the rule set, whatever the kernel holds', async (t) => {
  // The worst case the fault points cannot reach: the nft transaction went in, the record still says "not done".
  const { host, web } = await setup(t);
  t.is((await host.volt(['net', 'port', 'add', ...PORT], fault('port-add', 'nft'))).code, KILLED);
  const file = journalFile(host);
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as Firewallish;
  s.pending![0]!.steps[0]!.done = false;
  fs.writeFileSync(file, JSON.stringify(s));
  t.true(/tcp \. 8080/.test(await table(host)), 'the kernel has the forward');
  await settled(t, host, web, 'port-add', false);
  t.false(/tcp \. 8080/.test(await table(host)), 'rolled back: the kernel no longer has it');
  t.is(stateOf(host).portForwards.length, 0);
});
