import test, { type ExecutionContext } from 'ava';
import { SandboxHost, sleep, type ContainerNs } from '../harness';
import { KILLED, assertConsistent, readState, seeded } from './150-crash-lib';

// The reproduction from issue 11: registered containers, each `volt net connect` SIGKILLed at a
// random moment after it starts, then `net up`, `net check`, and a normal parallel connect of all.
// Issue size: VOLT_CRASH_WORKLOADS=30 VOLT_CRASH_ROUNDS=5 (CI default 8 × 2 until 30 × 5 is shown to pass on CI). The rounds are independent hosts (own state,
// own lock), run VOLT_CRASH_PARALLEL at a time (default: all of one batch of 5), so one round's
// waits (the kill delays, fsyncs, lock hand-overs) overlap another's work; inside a round the
// kills stay one after the other, as in the report. VOLT_CRASH_ROUNDS=20 for the long run.
const WORKLOADS = Number(process.env['VOLT_CRASH_WORKLOADS'] ?? 8);
const ROUNDS = Number(process.env['VOLT_CRASH_ROUNDS'] ?? 2);
const PARALLEL = Math.max(1, Number(process.env['VOLT_CRASH_PARALLEL'] ?? 5));
const SEED = Number(process.env['VOLT_CRASH_SEED'] ?? 11);

interface RoundResult {
  round: number;
  killed: number;
  finished: number;
  settled: string;
  /** Seconds per phase: where the time goes. */
  took: Record<string, number>;
}

async function crashRound(t: ExecutionContext, round: number): Promise<RoundResult> {
  const rand = seeded(SEED + round);
  const took: Record<string, number> = {};
  let mark = Date.now();
  const phase = (name: string): void => {
    took[name] = Math.round((Date.now() - mark) / 100) / 10;
    mark = Date.now();
  };
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const pairs: [string, ContainerNs][] = [];
  for (let i = 0; i < WORKLOADS; i++) pairs.push([`k${i}`, await host.addContainer(`k${i}`)]);
  // Registration is set-up, not the test: in parallel (the lock serialises the writes).
  const reg = await Promise.all(pairs.map(([n, c]) => host.volt(['container', 'register', n, '--netns', `/run/netns/${c.netns}`], { timeoutMs: 300_000 })));
  t.deepEqual(reg.filter((r) => r.code !== 0).map((r) => r.stderr), []);
  phase('setup');
  // The kill window: VOLT_CRASH_DELAY=50-450 (ms, as in the report), or by default spread over
  // the late part of one connect's run time measured here (the locked, kernel-changing part), so the
  // kills land in every phase on a slow host too.
  const cal = await host.addContainer('cal');
  const t0 = Date.now();
  await host.voltOk(['net', 'connect', 'backend', cal.netns]);
  const connectMs = Date.now() - t0;
  pairs.push([cal.netns, cal]);
  const [lo, hi] = (process.env['VOLT_CRASH_DELAY'] ?? `${Math.round(connectMs * 0.6)}-${Math.round(connectMs * 0.95)}`).split('-').map(Number) as [number, number];
  // One after the other, as in the report (parallel ones would mostly die waiting for the lock).
  const codes: number[] = [];
  for (const [name] of pairs.slice(0, WORKLOADS)) {
    const p = host.spawnVolt(['net', 'connect', 'backend', name]);
    await sleep(lo + Math.floor(rand() * (hi - lo)));
    codes.push((await p.stop('SIGKILL')).code);
  }
  phase('kills');
  const up = await host.voltOk(['net', 'up'], { timeoutMs: 300_000 });
  const settled = up.stdout.split('\n').filter((l) => /settled/.test(l)).join(' ');
  await assertConsistent(t, host, pairs);
  phase('up+check');
  const connected = new Set(readState(host).attachments.map((a) => a.workload));
  const again = await Promise.all(pairs.filter(([n]) => !connected.has(n)).map(([n]) => host.volt(['net', 'connect', 'backend', n], { timeoutMs: 300_000 })));
  t.deepEqual(again.map((r) => r.code).filter((c) => c !== 0), [], again.map((r) => r.stderr).join(''));
  const s = await assertConsistent(t, host, pairs);
  t.is(s.attachments.length, WORKLOADS + 1, `round ${round}: every workload connected once`);
  t.is(new Set(s.attachments.map((a) => a.ip)).size, WORKLOADS + 1, `round ${round}: ${WORKLOADS + 1} distinct addresses`);
  phase('reconnect+check');
  await host.destroy();
  return { round, killed: codes.filter((c) => c === KILLED).length, finished: codes.filter((c) => c === 0).length, settled, took: { ...took, connectMs: connectMs / 1000 } };
}

test(`connects killed at random moments (${WORKLOADS} workloads × ${ROUNDS} rounds, ${PARALLEL} at a time, seed ${SEED}) never leave two workloads with one address`, async (t) => {
  t.timeout(60 * 60_000);
  const started = Date.now();
  for (let first = 0; first < ROUNDS; first += PARALLEL) {
    const batch = Array.from({ length: Math.min(PARALLEL, ROUNDS - first) }, (_, i) => first + i);
    for (const r of await Promise.all(batch.map((round) => crashRound(t, round)))) {
      t.log(`round ${r.round}: ${r.killed} of ${WORKLOADS} connects killed, ${r.finished} finished; ${r.settled || 'nothing to settle'}; seconds ${JSON.stringify(r.took)}`);
    }
  }
  t.log(`${ROUNDS} rounds in ${Math.round((Date.now() - started) / 1000)} s`);
});

// 50 connects, 10 disconnects and a `net up` at the same time, the size (CI too).
const CONNECTS = Number(process.env['VOLT_CRASH_CONNECTS'] ?? 16);
const DISCONNECTS = Number(process.env['VOLT_CRASH_DISCONNECTS'] ?? 4);

test(`${CONNECTS} parallel connects + ${DISCONNECTS} parallel disconnects + net up: distinct addresses, consistent state`, async (t) => {
  t.timeout(30 * 60_000);
  const started = Date.now();
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const leaving: ContainerNs[] = [];
  for (let i = 0; i < DISCONNECTS; i++) leaving.push(await host.addContainer(`d${i}`));
  const joining: ContainerNs[] = [];
  for (let i = 0; i < CONNECTS; i++) joining.push(await host.addContainer(`j${i}`));
  const first = await Promise.all(leaving.map((c) => host.volt(['net', 'connect', 'backend', c.netns], { timeoutMs: 300_000 })));
  t.deepEqual(first.filter((r) => r.code !== 0).map((r) => r.stderr), []);
  const results = await Promise.all([
    ...joining.map((c) => host.volt(['net', 'connect', 'backend', c.netns], { timeoutMs: 300_000 })),
    ...leaving.map((c) => host.volt(['net', 'disconnect', c.netns, 'backend'], { timeoutMs: 300_000 })),
    host.volt(['net', 'up'], { timeoutMs: 300_000 }),
  ]);
  t.deepEqual(results.map((r) => r.code).filter((c) => c !== 0), [], results.map((r) => r.stderr).join(''));
  // Consistent: check clean (no drift, no pending record, no orphan link, address, unit, file or
  // nft object), host veths and container links exactly as recorded, each with its address.
  const s = await assertConsistent(t, host, [...joining, ...leaving]);
  t.is(s.attachments.length, CONNECTS);
  t.deepEqual(s.attachments.map((a) => a.workload).sort(), joining.map((c) => c.netns).sort(), 'the joining ones are connected, the leaving ones are not');
  t.is(new Set(s.attachments.map((a) => a.ip)).size, CONNECTS, `${CONNECTS} distinct addresses`);
  t.log(`${CONNECTS} + ${DISCONNECTS} + net up in ${Math.round((Date.now() - started) / 1000)} s`);
});
