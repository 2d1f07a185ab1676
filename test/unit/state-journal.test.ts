import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { voltPaths } from '@volt/sdk';
import { StateStore } from '@volt/core/dist/state/store';
import { pendingAttachments, pendingFindings, runPlan, settleAction, type PlanStep } from '@volt/core/dist/state/journal';
import { allocateAddress } from '@volt/core/dist/services/network/ipam';
import type { AttachmentRecord, NetworkRecord, PendingRecord, VoltState } from '@volt/core/dist/state/types';

function store(t: { teardown(f: () => void): void }): { s: StateStore; file: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-journal-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const paths = voltPaths({ VOLT_ROOT: root });
  return { s: new StateStore(paths), file: paths.stateFile };
}

const net: NetworkRecord = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', mtu: 1500, nat: true, mac: '02:00:00:00:00:01', isDefault: false, createdAt: 'x' };
const att = (workload: string, ip: string): AttachmentRecord => ({ workload, network: 'backend', ip, mac: '02:00:00:00:00:02', kind: 'veth', ifname: 'eth0', hostIfname: 'vh1', createdAt: 'x' });
/** state.json with the pending records of journal.json next to it (store.ts keeps them apart). */
const onDisk = (file: string): VoltState => {
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as VoltState;
  const j = path.join(path.dirname(file), 'journal.json');
  if (fs.existsSync(j)) s.pending = (JSON.parse(fs.readFileSync(j, 'utf8')) as { pending: VoltState['pending'] }).pending;
  return s;
};

test('the intent is on disk before the first step runs, and each step is recorded done as it finishes', async (t) => {
  const { s, file } = store(t);
  const seen: (PendingRecord[] | undefined)[] = [];
  const step = (name: string): PlanStep => ({ name, what: name, apply: async () => void seen.push(structuredClone(onDisk(file).pending)) });
  await s.transaction(async (state) => {
    state.networks.backend = net;
    const plan = await runPlan(s, state, { op: 'connect', object: 'api on backend', attachment: att('api', '10.30.0.100') }, [step('veth'), step('address')], () => undefined);
    plan.finish();
  });
  t.deepEqual(seen.map((p) => p?.[0]?.steps), [
    [{ name: 'veth', done: false }, { name: 'address', done: false }],
    [{ name: 'veth', done: true }, { name: 'address', done: false }],
  ]);
  t.is(onDisk(file).pending, undefined, 'a finished plan leaves no record (and no empty key)');
});

test('a failing step undoes the done ones in reverse, restores the draft and leaves no record on disk', async (t) => {
  const { s, file } = store(t);
  const log: string[] = [];
  const err = await t.throwsAsync(
    s.transaction(async (state) => {
      state.networks.backend = net;
      await runPlan(s, state, { op: 'connect', object: 'x', attachment: att('x', '10.30.0.100') }, [
        { name: 'veth', what: 'a', apply: async () => void log.push('a'), undo: async () => void log.push('undo a') },
        { name: 'address', what: 'b', apply: async () => { throw new Error('boom'); } },
      ], () => undefined);
    }),
  );
  t.is(err?.message, 'boom');
  t.deepEqual(log, ['a', 'undo a']);
  const st = onDisk(file);
  t.is(st.pending, undefined);
  t.deepEqual(Object.keys(st.networks), ['backend'], 'what the draft had before the plan is kept');
});

test('a pending connect keeps its address taken; findings name dead processes only; the rule', (t) => {
  const rec: PendingRecord = { id: '1', op: 'connect', object: 'api on backend', pid: 2 ** 22 + 7, startedAt: 'x', steps: [{ name: 'veth', done: true }, { name: 'address', done: false }], attachment: att('api', '10.30.0.100') };
  const state = { networks: { backend: net }, attachments: [], pending: [rec] } as unknown as VoltState;
  t.is(allocateAddress(net, [...state.attachments, ...pendingAttachments(state)], 'container', undefined, 'x'), '10.30.0.101');
  t.deepEqual(pendingFindings(state).map((f) => [f.kind, f.object]), [['pending-connect', 'api on backend']]);
  t.regex(pendingFindings(state)[0]!.detail, /steps done: veth of veth, address; .*roll back/);
  t.deepEqual(pendingFindings({ ...state, pending: [{ ...rec, pid: process.pid }] }), [], 'a live process is in flight');
  t.is(settleAction(rec), 'roll back');
  t.is(settleAction({ ...rec, steps: rec.steps.map((x) => ({ ...x, done: true })) }), 'roll forward');
  t.is(settleAction({ ...rec, op: 'disconnect', steps: [{ name: 'unplug', done: false }] }), 'roll forward');
});
