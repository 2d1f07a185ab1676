import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost, ping } from '../harness';
import { snapshot } from './kernel-snapshot';

interface Attachment {
  workload: string;
  ip: string;
  ifname: string;
  hostIfname: string;
}
interface Finding {
  kind: string;
  object: string;
  detail: string;
}
interface CheckJson {
  ok: boolean;
  drift: string[];
  findings: Finding[];
}

const ok = async (host: SandboxHost, args: string[]): Promise<void> => {
  const r = await host.exec(args[0]!, args.slice(1));
  if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
};

for (const driver of ['direct', 'networkd'] as const) {
  test(`${driver}: check lists what a killed volt left behind, up removes it and nothing foreign, a second up changes nothing`, async (t) => {
    const networkd = driver === 'networkd';
    const host = await SandboxHost.create(t, { networkd, uplink: false, config: `drivers:\n  bridge: ${driver}\n` });
    await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
    await host.voltOk(['net', 'create', '--name', 'internal', '--subnet', '10.50.0.0/24', '--no-nat']);
    const ca = await host.addContainer('a');
    const cb = await host.addContainer('b');
    const cc = await host.addContainer('c');
    const stranger = await host.addContainer('stranger');
    const a = await host.voltJson<Attachment>(['net', 'connect', 'backend', ca.netns, '-o', 'json']);
    const b = await host.voltJson<Attachment>(['net', 'connect', 'backend', cb.netns, '-o', 'json']);
    await host.voltJson<Attachment>(['net', 'connect', 'backend', cc.netns, '-o', 'json']);
    t.is((await host.volt(['net', 'check'])).code, 0, 'clean before the leftovers are made');

    // volt marks what it creates: both veth ends and the bridges carry a "volt:" alias.
    const alias = async (ns: SandboxHost | typeof ca, dev: string): Promise<string | undefined> =>
      (await ns.execJson<{ ifalias?: string }[]>('ip', ['-j', 'link', 'show', 'dev', dev]))[0]!.ifalias;
    t.is(await alias(host, a.hostIfname), `volt:backend/${ca.netns}`);
    t.is(await alias(ca, 'eth0'), `volt:backend/${ca.netns}`);
    t.is(await alias(host, 'volt-backend'), 'volt:backend');

    // A connect of c to "internal" killed after the veth was made, before state was written:
    // host end on the bridge, eth1 with its alias and address inside c.
    const h = ['ip', '-n', host.netns];
    await ok(host, [...h, 'link', 'add', 'vh0123456789', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', cc.netns]);
    await ok(host, [...h, 'link', 'set', 'vh0123456789', 'alias', `volt:internal/${cc.netns}`, 'master', 'volt-internal', 'up']);
    await ok(host, ['ip', '-n', cc.netns, 'link', 'set', 'eth1', 'alias', `volt:internal/${cc.netns}`, 'up']);
    await ok(host, ['ip', '-n', cc.netns, 'addr', 'add', '10.50.0.100/24', 'dev', 'eth1']);
    // The first connect of a namespace volt never recorded: only the host end is visible (16 ports, 15 in state).
    await ok(host, [...h, 'link', 'add', 'vhaaaaaaaaaa', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', stranger.netns]);
    await ok(host, [...h, 'link', 'set', 'vhaaaaaaaaaa', 'master', 'volt-backend', 'up']);
    // A stray address on a's eth0, and b's address on a as well (two namespaces, one address).
    await ok(host, ['ip', '-n', ca.netns, 'addr', 'add', '10.30.0.77/24', 'dev', 'eth0']);
    await ok(host, ['ip', '-n', ca.netns, 'addr', 'add', `${b.ip}/24`, 'dev', 'eth0']);
    // Units of a network whose `net create` died before state was written, a VM's runtime directory.
    const unitDir = path.join(host.root, 'etc/systemd/network');
    fs.mkdirSync(unitDir, { recursive: true });
    fs.writeFileSync(path.join(unitDir, '10-volt-volt-gone.netdev'), '# Managed by volt — network "gone".\n[NetDev]\nName=volt-gone\nKind=bridge\n');
    fs.writeFileSync(path.join(unitDir, '10-volt-volt-gone.network'), '# Managed by volt — network "gone".\n[Match]\nName=volt-gone\n\n[Network]\nConfigureWithoutCarrier=yes\n');
    if (networkd) {
      await ok(host, ['networkctl', 'reload']);
      await ok(host, ['sh', '-c', `for i in $(seq 100); do ip link show volt-gone >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1`]);
    }
    fs.mkdirSync(path.join(host.root, 'run/volt/vm/ghost'), { recursive: true });
    fs.writeFileSync(path.join(host.root, 'run/volt/vm/ghost/qemu.log'), '');

    // Foreign objects on the same machine, some on volt's bridge: never volt's to remove.
    await ok(host, [...h, 'link', 'add', 'myveth0', 'type', 'veth', 'peer', 'name', 'myveth1']);
    await ok(host, [...h, 'link', 'set', 'myveth0', 'master', 'volt-backend', 'up']);
    await ok(host, [...h, 'link', 'add', 'br-user', 'type', 'bridge']);
    await ok(host, ['ip', '-n', ca.netns, 'link', 'add', 'user0', 'type', 'veth', 'peer', 'name', 'user1']);
    await ok(host, ['ip', '-n', ca.netns, 'addr', 'add', '10.30.0.200/32', 'dev', 'user0']);
    fs.writeFileSync(path.join(unitDir, '20-user.network'), '[Match]\nName=br-user\n');

    const check = await host.volt(['net', 'check']);
    t.is(check.code, 6, check.stderr);
    t.regex(check.stderr, /orphan-link vh0123456789: veth vh0123456789 on bridge volt-internal/);
    t.regex(check.stderr, /duplicate-address 10\.30\.0\.\d+/);
    const json = await host.volt(['net', 'check', '-o', 'json']);
    t.is(json.code, 6);
    const report = JSON.parse(json.stdout) as CheckJson;
    t.false(report.ok);
    t.deepEqual(report.drift, []);
    const got = report.findings.map((f) => `${f.kind} ${f.object}`).sort();
    const expected = [
      'orphan-link vh0123456789',
      'orphan-link vhaaaaaaaaaa',
      `orphan-link ${cc.netns}:eth1`,
      `orphan-address ${ca.netns}:eth0:10.30.0.77/24`,
      `duplicate-address ${b.ip}`,
      `orphan-unit ${path.join(unitDir, '10-volt-volt-gone.netdev')}`,
      `orphan-unit ${path.join(unitDir, '10-volt-volt-gone.network')}`,
      `orphan-file ${path.join(host.root, 'run/volt/vm/ghost')}`,
      ...(networkd ? ['orphan-link volt-gone'] : []),
    ].sort();
    t.deepEqual(got, expected);
    const dup = report.findings.find((f) => f.kind === 'duplicate-address')!;
    t.regex(dup.detail, new RegExp(`workload ${cb.netns} eth0 \\(recorded in state\\)`));
    t.regex(dup.detail, new RegExp(`workload ${ca.netns} eth0 \\(not in state\\)`));

    const up = await host.voltOk(['net', 'up']);
    t.regex(up.stdout, new RegExp(`removed ${expected.length} leftover\\(s\\)`));
    t.regex(up.stdout, /duplicate-address/);
    const after = await host.volt(['net', 'check', '-o', 'json']);
    t.is(after.code, 0, after.stdout);
    t.deepEqual((JSON.parse(after.stdout) as CheckJson).findings, []);

    // Gone: the orphans; kept: what state records and everything foreign.
    t.not((await host.exec('ip', ['link', 'show', 'vh0123456789'])).code, 0);
    t.not((await host.exec('ip', ['link', 'show', 'vhaaaaaaaaaa'])).code, 0);
    t.not((await cc.exec('ip', ['link', 'show', 'eth1'])).code, 0);
    t.false(fs.existsSync(path.join(unitDir, '10-volt-volt-gone.netdev')));
    t.false(fs.existsSync(path.join(host.root, 'run/volt/vm/ghost')));
    if (networkd) t.not((await host.exec('ip', ['link', 'show', 'volt-gone'])).code, 0);
    const aAddrs = (await ca.execJson<{ addr_info: { family: string; local: string }[] }[]>('ip', ['-j', 'addr', 'show', 'dev', 'eth0']))[0]!.addr_info
      .filter((x) => x.family === 'inet')
      .map((x) => x.local);
    t.deepEqual(aAddrs, [a.ip], 'a keeps only the address state records');
    const bAddrs = (await cb.execJson<{ addr_info: { family: string; local: string }[] }[]>('ip', ['-j', 'addr', 'show', 'dev', 'eth0']))[0]!.addr_info
      .filter((x) => x.family === 'inet')
      .map((x) => x.local);
    t.deepEqual(bAddrs, [b.ip], 'b keeps its address');
    t.true(await ping(ca, b.ip, { count: 2 }), 'a reaches b at its address (no longer its own)');
    t.is((await host.execJson<{ master?: string }[]>('ip', ['-j', 'link', 'show', 'myveth0']))[0]!.master, 'volt-backend', 'foreign veth on the volt bridge survives');
    t.is((await host.exec('ip', ['link', 'show', 'br-user'])).code, 0, 'foreign bridge survives');
    t.is((await ca.exec('ip', ['addr', 'show', 'dev', 'user0'])).stdout.includes('10.30.0.200/32'), true, 'foreign link in a workload keeps its address');
    t.true(fs.existsSync(path.join(unitDir, '20-user.network')), 'foreign unit survives');

    const before = await snapshot(host);
    const again = await host.voltOk(['net', 'up']);
    t.regex(again.stdout, /nothing to do/);
    t.deepEqual(await snapshot(host), before, 'a second up changes nothing');
  });
}
