import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { voltPaths } from '@volt/sdk';
import { StateStore, serialise } from '@volt/core/dist/state/store';
import { emptyState, type VoltState } from '@volt/core/dist/state/types';

function store(t: { teardown(f: () => void): void }): { s: StateStore; file: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-store-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const paths = voltPaths({ VOLT_ROOT: root });
  return { s: new StateStore(paths), file: paths.stateFile };
}

const sample = (): VoltState => {
  const st = emptyState();
  st.networks.backend = { name: 'backend', bridge: 'volt-backend', subnet: '10.30.0.0/24', gateway: '10.30.0.1', mtu: 1500, nat: true, mac: '02:00:00:00:00:01', isDefault: false, createdAt: 'x' } as VoltState['networks'][string];
  st.attachments.push({ workload: 'api', network: 'backend', ip: '10.30.0.100', mac: '02:00:00:00:00:02', kind: 'veth', ifname: 'eth0', hostIfname: 'vh1', createdAt: 'x' });
  st.firewall.rules.push({ name: 'r1', note: 'quote " and \\n newline' } as unknown as VoltState['firewall']['rules'][number]);
  return st;
};

test('serialise: valid JSON that parses back to the same state, one record per line', (t) => {
  const st = sample();
  const text = serialise(st);
  t.deepEqual(JSON.parse(text), st);
  t.true(text.endsWith('\n'));
  const lines = text.split('\n');
  t.true(lines.some((l) => l.startsWith('    "backend": {"name":"backend"')), text);
  t.true(lines.some((l) => l.startsWith('    {"workload":"api"')), text);
  t.true(lines.some((l) => l.trim().startsWith('{"name":"r1"')), text);
});

test('a transaction writes its changes, a no-op writes nothing, a throw leaves the file untouched', async (t) => {
  const { s, file } = store(t);
  await s.transaction(async (st) => {
    Object.assign(st, sample());
  });
  t.deepEqual(s.read(), sample());
  const text = fs.readFileSync(file, 'utf8');
  const ino = fs.statSync(file).ino;
  await s.transaction(async () => undefined);
  t.is(fs.statSync(file).ino, ino, 'a transaction that changed nothing does not rewrite the file');
  await t.throwsAsync(
    s.transaction(async (st) => {
      st.attachments = [];
      throw new Error('boom');
    }),
    { message: 'boom' },
  );
  t.is(fs.readFileSync(file, 'utf8'), text);
  await s.transaction(async (st) => {
    st.attachments = [];
  });
  t.deepEqual(s.read().attachments, []);
  t.not(fs.statSync(file).ino, ino, 'a change is written by rename');
});

test('a state file written in the older indented format is read, and rewritten compactly on the next change', async (t) => {
  const { s, file } = store(t);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(sample(), null, 2) + '\n');
  t.deepEqual(s.read(), sample());
  await s.transaction(async (st) => {
    st.policies = {};
  });
  t.is(fs.readFileSync(file, 'utf8'), serialise(sample()));
});

const record = (id: string): NonNullable<VoltState['pending']>[number] => ({ id, op: 'firewall-apply', object: 'firewall rule "r2"', pid: 1, startedAt: 'x', steps: [{ name: 'nft', done: false }] });

test('pending records live in journal.json: a journal-only checkpoint leaves state.json alone; the commit writes state, then drops the journal', async (t) => {
  const { s, file } = store(t);
  const journal = path.join(path.dirname(file), 'journal.json');
  await s.transaction(async (st) => {
    Object.assign(st, sample());
  });
  const ino = fs.statSync(file).ino;
  let seen: { stateIno: number; journal: string } | undefined;
  await s.transaction(async (st) => {
    (st.pending ??= []).push(record('a1'));
    s.checkpoint({ journalOnly: true });
    seen = { stateIno: fs.statSync(file).ino, journal: fs.readFileSync(journal, 'utf8') };
    t.deepEqual(s.read().pending?.map((p) => p.id), ['a1'], 'readers see the record');
    st.firewall = { rules: [...st.firewall.rules, { name: 'r2' } as unknown as VoltState['firewall']['rules'][number]] };
    delete st.pending;
  });
  t.is(seen?.stateIno, ino, 'the intent did not write the state file');
  t.deepEqual((JSON.parse(seen!.journal) as { pending: { id: string }[] }).pending.map((p) => p.id), ['a1']);
  t.false(fs.existsSync(journal), 'no journal file once nothing is pending');
  t.false(fs.readFileSync(file, 'utf8').includes('"pending"'), 'the state file never holds records');
  t.deepEqual(s.read().firewall.rules.map((r) => r.name), ['r1', 'r2']);
});

test('records in the state file of an older volt are read, and moved to the journal at the next write', async (t) => {
  const { s, file } = store(t);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, serialise(sample()).replace(/\n}\n$/, `,\n  "pending": [${JSON.stringify(record('old'))}]\n}\n`));
  t.deepEqual(s.read().pending?.map((p) => p.id), ['old']);
  await s.transaction(async (st) => {
    t.deepEqual(st.pending?.map((p) => p.id), ['old']);
  });
  t.false(fs.readFileSync(file, 'utf8').includes('"pending"'));
  t.deepEqual(s.read().pending?.map((p) => p.id), ['old'], 'still pending, now in journal.json');
  t.true(fs.existsSync(path.join(path.dirname(file), 'journal.json')));
});
