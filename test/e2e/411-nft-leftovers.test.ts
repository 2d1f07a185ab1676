import * as fs from 'node:fs';
import test from 'ava';
import { SandboxHost } from '../harness';
import { workload } from './400-lib';

// nft objects volt made and forgot (docs/leftovers.md, kind orphan-nft): a port forward and a
// firewall rule whose state records are gone stay in table inet volt, recognisable as volt's
// (pf_port elements, `comment "volt:NAME"`). `volt net check` names them, `volt net up` removes them.

interface Finding {
  kind: string;
  object: string;
  detail: string;
}

test('a port forward and a firewall rule whose records are gone are orphan-nft findings; net up removes them', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  await workload(host, 'web', 'backend');
  await host.voltOk(['net', 'port', 'add', '--host-port', '8080', '--target', 'web', '--target-port', '80']);
  await host.voltOk(['net', 'port', 'add', '--host-port', '9090', '--target', 'web', '--target-port', '90']);
  await host.voltOk(['net', 'firewall', 'add', '--name', 'keep', '--source', 'any', '--dest', 'web', '--port', '443', '--proto', 'tcp', '--action', 'accept']);
  await host.voltOk(['net', 'firewall', 'add', '--name', 'gone', '--source', 'any', '--dest', 'web', '--port', '22', '--proto', 'tcp', '--action', 'drop']);
  t.is((await host.volt(['net', 'check'])).code, 0);

  // The records go (as after a lost write or an older volt killed before its commit); the kernel keeps the objects.
  const file = `${host.root}/var/lib/volt/state.json`;
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as { portForwards: { hostPort: number }[]; firewall: { rules: { name: string }[] } };
  s.portForwards = s.portForwards.filter((f) => f.hostPort !== 8080);
  s.firewall.rules = s.firewall.rules.filter((r) => r.name !== 'gone');
  fs.writeFileSync(file, JSON.stringify(s));

  const check = await host.volt(['net', 'check', '-o', 'json']);
  t.is(check.code, 6, check.stdout);
  const report = JSON.parse(check.stdout) as { drift: string[]; findings: Finding[] };
  const findings = report.findings.filter((f) => f.kind === 'orphan-nft');
  t.deepEqual(findings.map((f) => f.object).sort(), ['firewall rule "gone"', 'port forward 8080/tcp']);
  // Reported once, as findings with their kind: not a second time as drift.
  t.deepEqual(report.drift, [], check.stdout);
  t.deepEqual(report.findings.map((f) => f.kind), ['orphan-nft', 'orphan-nft']);
  t.regex(findings.find((f) => f.object === 'port forward 8080/tcp')!.detail, /pf_port holds tcp \. 8080 : 10\.30\.0\.\d+ \. 80: a port forward volt made, and no forward of host port 8080\/tcp is in state/);
  t.regex(findings.find((f) => f.object === 'firewall rule "gone"')!.detail, /volt's rule "gone", and no firewall rule of that name is in state/);
  // The table output names the kind too, and has no drift section for them.
  const table = await host.volt(['net', 'check']);
  t.regex(table.stderr + table.stdout, /orphan-nft port forward 8080\/tcp/);
  t.notRegex(table.stderr + table.stdout, /difference\(s\) between desired state/);

  const up = await host.voltJson<{ removed?: Finding[] }>(['net', 'up', '-o', 'json']);
  t.deepEqual((up.removed ?? []).filter((f) => f.kind === 'orphan-nft').map((f) => f.object).sort(), ['firewall rule "gone"', 'port forward 8080/tcp']);
  const after = await host.volt(['net', 'check', '-o', 'json']);
  t.is(after.code, 0, after.stdout);
  const nft = (await host.execOk('nft', ['list', 'table', 'inet', 'volt'])).stdout;
  t.false(/tcp \. 8080/.test(nft), 'the forgotten forward is gone from the kernel');
  t.false(nft.includes('comment "volt:gone"'), 'the forgotten rule is gone from the kernel');
  t.true(/tcp \. 9090/.test(nft) && nft.includes('comment "volt:keep"'), 'what state owns stays');
});

test('a network chain with no network in state is an orphan-nft finding', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  // As a killed `net delete` of an older volt would leave them: the chains of a network "old".
  await host.execOk('nft', ['add', 'chain', 'inet', 'volt', 'net-old-out']);
  await host.execOk('nft', ['add', 'rule', 'inet', 'volt', 'net-old-out', 'accept']);
  const check = await host.volt(['net', 'check', '-o', 'json']);
  t.is(check.code, 6);
  const report = JSON.parse(check.stdout) as { drift: string[]; findings: Finding[] };
  const f = report.findings.filter((x) => x.kind === 'orphan-nft');
  t.deepEqual(f.map((x) => x.object), ['network chains net-old-in/out']);
  t.deepEqual(report.drift, [], 'the chains are a finding, not drift as well');
  t.regex(f[0]!.detail, /chain "net-old-out" in table inet volt is network "old"'s, and no network of that name is in state/);
  const up = await host.voltJson<{ removed?: Finding[] }>(['net', 'up', '-o', 'json']);
  t.deepEqual((up.removed ?? []).map((x) => x.object), ['network chains net-old-in/out']);
  t.is((await host.volt(['net', 'check'])).code, 0);
  t.notRegex((await host.execOk('nft', ['list', 'chains', 'inet'])).stdout, /net-old-out/);
});
