import test from 'ava';
import { SandboxHost, type ContainerNs } from '../harness';
import { QUEUED_MS, assertConsistent, kernelDuplicates } from './150-crash-lib';

// Issue 11's concurrency requirement, at its size in CI: 50 parallel connects, 10 parallel
// disconnects and a `volt net up`, all started at once on one host. They queue on the state lock
// (each volt waits up to 5 minutes for it, QUEUED_MS allows for that); the result must be 50
// distinct addresses and a consistent state: check clean (no drift, no pending record, no orphan,
// no duplicate address), host veths and container links exactly as recorded, each with its address.
const CONNECTS = Number(process.env['VOLT_CRASH_CONNECTS'] ?? 50);
const DISCONNECTS = Number(process.env['VOLT_CRASH_DISCONNECTS'] ?? 10);

test(`${CONNECTS} parallel connects + ${DISCONNECTS} parallel disconnects + net up: ${CONNECTS} distinct addresses, consistent state`, async (t) => {
  t.timeout(QUEUED_MS + 10 * 60_000);
  const started = Date.now();
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const leaving: ContainerNs[] = [];
  for (let i = 0; i < DISCONNECTS; i++) leaving.push(await host.addContainer(`d${i}`));
  const joining: ContainerNs[] = [];
  for (let i = 0; i < CONNECTS; i++) joining.push(await host.addContainer(`j${i}`));
  const first = await Promise.all(leaving.map((c) => host.volt(['net', 'connect', 'backend', c.netns], { timeoutMs: QUEUED_MS })));
  t.deepEqual(first.filter((r) => r.code !== 0).map((r) => r.stderr), []);
  const setup = Date.now();
  const results = await Promise.all([
    ...joining.map((c) => host.volt(['net', 'connect', 'backend', c.netns], { timeoutMs: QUEUED_MS })),
    ...leaving.map((c) => host.volt(['net', 'disconnect', c.netns, 'backend'], { timeoutMs: QUEUED_MS })),
    host.volt(['net', 'up'], { timeoutMs: QUEUED_MS }),
  ]);
  const ran = Date.now();
  t.deepEqual(results.map((r) => r.code).filter((c) => c !== 0), [], results.map((r) => r.stderr).join(''));
  const s = await assertConsistent(t, host, [...joining, ...leaving]);
  t.is(s.attachments.length, CONNECTS);
  t.deepEqual(s.attachments.map((a) => a.workload).sort(), joining.map((c) => c.netns).sort(), 'the joining ones are connected, the leaving ones are not');
  const distinct = new Set(s.attachments.map((a) => a.ip)).size;
  t.is(distinct, CONNECTS, `${CONNECTS} distinct addresses`);
  const dups = await kernelDuplicates(host, [...joining, ...leaving]);
  t.deepEqual(dups, []);
  const check = await host.volt(['net', 'check', '-o', 'json']);
  const report = JSON.parse(check.stdout || '{}') as { ok?: boolean; drift?: unknown[]; findings?: unknown[] };
  const msg =
    `crash-concurrent: ${CONNECTS} connects + ${DISCONNECTS} disconnects + net up at once: ${results.filter((r) => r.code === 0).length} of ${results.length} exit 0; ` +
    `${distinct} distinct addresses for ${s.attachments.length} attachments; kernel duplicates ${dups.length}; ` +
    `net check exit ${check.code}, ok ${String(report.ok)}, ${report.drift?.length ?? '?'} drift, ${report.findings?.length ?? '?'} findings; ` +
    `set-up ${Math.round((setup - started) / 1000)} s, the parallel commands ${Math.round((ran - setup) / 1000)} s`;
  process.stderr.write(`${msg}\n`);
  t.log(msg);
});
