import test from 'ava';
import { SandboxHost, ping, UPLINK } from '../harness';
import { snapshot } from './kernel-snapshot';

for (const driver of ['direct', 'networkd'] as const) {
  test(`${driver}: check reports drift, up repairs it, a second up changes nothing`, async (t) => {
    const host = await SandboxHost.create(t, { networkd: driver === 'networkd', config: `drivers:\n  bridge: ${driver}\n` });
    await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
    await host.voltOk(['net', 'create', '--name', 'internal', '--subnet', '10.50.0.0/24', '--no-nat']);
    t.is((await host.volt(['net', 'check'])).code, 0);
    const good = await snapshot(host);

    // Someone deletes a bridge, strips an address, and flushes the whole ruleset.
    await host.exec('ip', ['link', 'del', 'volt-internal']);
    await host.exec('ip', ['addr', 'flush', 'dev', 'volt-backend']);
    await host.exec('nft', ['flush', 'ruleset']);

    const check = await host.volt(['net', 'check']);
    t.is(check.code, 6);
    t.regex(check.stderr, /bridge volt-internal \(network "internal"\) is missing/);
    t.regex(check.stderr, /bridge volt-backend lacks its gateway address 10\.30\.0\.1\/24/);
    t.regex(check.stderr, /table/i);
    t.regex(check.stderr, /→ run `volt net up`/);
    const json = await host.volt(['net', 'check', '-o', 'json']);
    t.is(json.code, 6);
    t.false((JSON.parse(json.stdout) as { ok: boolean }).ok);

    const up = await host.voltOk(['net', 'up']);
    t.regex(up.stdout, /repaired \d+ difference/);
    t.is((await host.volt(['net', 'check'])).code, 0);
    const repaired = await snapshot(host);
    t.deepEqual(repaired.state, good.state);

    const again = await host.voltOk(['net', 'up']);
    t.regex(again.stdout, /nothing to do/);
    t.deepEqual(await snapshot(host), repaired, 'a second up changes nothing');

    const c = await host.addContainer('web');
    await host.attachRaw(c, 'volt-backend', '10.30.0.10/24', '10.30.0.1');
    t.true(await ping(c, UPLINK.internetAddress, { count: 2 }), 'NAT works again after repair');
  });
}

test('a foreign address on a bridge is reported as drift', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['init']);
  await host.exec('ip', ['addr', 'add', '192.0.2.1/24', 'dev', 'volt0']);
  const r = await host.volt(['net', 'check']);
  t.is(r.code, 6);
  t.regex(r.stderr, /volt0 has addresses volt did not set: 192\.0\.2\.1\/24/);
});
