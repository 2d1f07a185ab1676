import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost } from '../harness';

test('10 parallel creates with distinct subnets all succeed', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const results = await Promise.all(
    Array.from({ length: 10 }, (_, i) => host.volt(['net', 'create', '--name', `p${i}`, '--subnet', `10.${100 + i}.0.0/24`])),
  );
  t.deepEqual(results.map((r) => r.code), Array(10).fill(0), results.map((r) => r.stderr).join(''));
  const state = JSON.parse(fs.readFileSync(path.join(host.root, 'var/lib/volt/state.json'), 'utf8')) as { networks: Record<string, unknown> };
  t.deepEqual(Object.keys(state.networks).sort(), ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9', 'volt0']);
  const links = await host.execJson<{ ifname: string }[]>('ip', ['-j', 'link', 'show', 'type', 'bridge']);
  t.is(links.length, 11);
  const check = await host.volt(['net', 'check']);
  t.is(check.code, 0, check.stderr);
});

test('2 parallel creates with the same subnet: exactly one wins', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['init']);
  const [a, b] = await Promise.all([
    host.volt(['net', 'create', '--name', 'one', '--subnet', '10.40.0.0/24']),
    host.volt(['net', 'create', '--name', 'two', '--subnet', '10.40.0.0/24']),
  ]);
  t.deepEqual([a!.code, b!.code].sort(), [0, 4]);
  t.regex((a!.code === 0 ? b! : a!).stderr, /overlaps network "(one|two)"/);
  const nets = await host.voltJson<{ name: string }[]>(['net', 'list', '-o', 'json']);
  t.is(nets.length, 2);
  const check = await host.volt(['net', 'check']);
  t.is(check.code, 0, check.stderr);
});
