import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost } from '../harness';
import { snapshot } from './kernel-snapshot';

interface Case {
  title: string;
  args: string[];
  exit: number;
  stderr: RegExp;
  /** Config file content to use for this case only. */
  config?: string;
}

const cases: Case[] = [
  { title: 'malformed CIDR', args: ['net', 'create', '--name', 'x', '--subnet', '10.60.0/24'], exit: 2, stderr: /create network "x": "10\.60\.0\/24" is not an IPv4 subnet/ },
  { title: 'host bits set', args: ['net', 'create', '--name', 'x', '--subnet', '10.60.0.1/24'], exit: 2, stderr: /has host bits set\n\s+→ did you mean 10\.60\.0\.0\/24\?/ },
  { title: '/31', args: ['net', 'create', '--name', 'x', '--subnet', '10.60.0.0/31'], exit: 2, stderr: /no room for a gateway/ },
  { title: '/32', args: ['net', 'create', '--name', 'x', '--subnet', '10.60.0.1/32'], exit: 2, stderr: /no room for a gateway/ },
  { title: 'absurdly large subnet', args: ['net', 'create', '--name', 'x', '--subnet', '0.0.0.0/0'], exit: 2, stderr: /too large for one bridge/ },
  { title: 'overlapping subnet', args: ['net', 'create', '--name', 'x', '--subnet', '10.30.0.128/25'], exit: 4, stderr: /overlaps network "backend" \(10\.30\.0\.0\/24\)/ },
  { title: 'overlapping a host route', args: ['net', 'create', '--name', 'x', '--subnet', '198.18.0.0/16'], exit: 4, stderr: /overlaps the host route 198\.18\.0\.0\/24 dev uplink0/ },
  { title: 'duplicate name', args: ['net', 'create', '--name', 'backend', '--subnet', '10.61.0.0/24'], exit: 4, stderr: /network with this name already exists/ },
  { title: 'name too long', args: ['net', 'create', '--name', 'averyverylongname', '--subnet', '10.61.0.0/24'], exit: 2, stderr: /bridge name "volt-averyverylongname" is 22 characters.*at most 15[^]*--bridge volt-averyveryl/ },
  { title: 'illegal characters', args: ['net', 'create', '--name', 'Bad/Name', '--subnet', '10.61.0.0/24'], exit: 2, stderr: /lower-case letters/ },
  { title: 'bad gateway', args: ['net', 'create', '--name', 'x', '--subnet', '10.61.0.0/24', '--gateway', '10.62.0.1'], exit: 2, stderr: /outside 10\.61\.0\.0\/24/ },
  { title: 'bad MTU', args: ['net', 'create', '--name', 'x', '--subnet', '10.61.0.0/24', '--mtu', '70000'], exit: 2, stderr: /MTU 70000 is out of range/ },
  { title: 'missing required flag', args: ['net', 'create', '--name', 'x'], exit: 2, stderr: /Missing required flag subnet/ },
  { title: 'unknown network (inspect)', args: ['net', 'inspect', 'nope'], exit: 3, stderr: /network "nope" does not exist\n\s+→ known networks: volt0, backend/ },
  { title: 'unknown network (delete)', args: ['net', 'delete', 'nope'], exit: 3, stderr: /network "nope" does not exist/ },
  { title: 'deleting the default network while in use', args: ['net', 'delete', 'volt0'], exit: 4, stderr: /delete network "volt0": 1 workload is still attached[^]*--force/ },
  { title: 'an existing foreign interface with the bridge name', args: ['net', 'create', '--name', 'taken', '--subnet', '10.63.0.0/24'], exit: 4, stderr: /interface "volt-taken" already exists in the kernel/ },
  { title: 'invalid YAML', config: 'network:\n  mtu: [1500\n', args: ['net', 'create', '--name', 'x', '--subnet', '10.61.0.0/24'], exit: 2, stderr: /config\.yaml:\d+:\d+: invalid YAML/ },
  { title: 'unknown config key', config: 'network:\n  mtu: 1500\n  brige: x\n', args: ['net', 'create', '--name', 'x', '--subnet', '10.61.0.0/24'], exit: 2, stderr: /config\.yaml:3:3: network\.brige: unknown key "brige"/ },
  { title: 'wrong config type', config: 'network:\n  mtu: large\n', args: ['net', 'list'], exit: 2, stderr: /config\.yaml:2:3: network\.mtu: expected integer/ },
  { title: 'unknown driver name', config: 'drivers:\n  bridge: ovs\n', args: ['net', 'create', '--name', 'x', '--subnet', '10.61.0.0/24'], exit: 2, stderr: /drivers\.bridge is "ovs", which no installed plugin provides; valid: networkd, direct/ },
  { title: 'config validate: unknown driver', config: 'drivers:\n  firewall: iptables\n', args: ['config', 'validate'], exit: 2, stderr: /unknown driver drivers\.firewall: "iptables" \(valid: nftables/ },
];

test('bad input: clear error, non-zero exit, kernel and state unchanged', async (t) => {
  const host = await SandboxHost.create(t);
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const c = await host.addContainer('user');
  await host.attachRaw(c, 'volt0', '10.0.0.50/24', '10.0.0.1');
  await host.execOk('ip', ['link', 'add', 'volt-taken', 'type', 'veth', 'peer', 'name', 'taken-peer']);
  const configFile = path.join(host.root, 'etc/volt/config.yaml');

  for (const k of cases) {
    if (k.config !== undefined) fs.writeFileSync(configFile, k.config);
    const before = await snapshot(host);
    const r = await host.volt(k.args);
    const after = await snapshot(host);
    if (k.config !== undefined) fs.rmSync(configFile);
    t.is(r.code, k.exit, `${k.title}: exit code (stderr: ${r.stderr})`);
    t.regex(r.stderr, k.stderr, k.title);
    t.false(/\n\s+at /.test(r.stderr), `${k.title}: no stack trace without --debug`);
    t.deepEqual(after, before, `${k.title}: kernel and state unchanged`);
  }
});

test('--debug shows the stack trace', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const r = await host.volt(['net', 'create', '--name', 'x', '--subnet', 'nope', '--debug']);
  t.is(r.code, 2);
  t.regex(r.stderr, /\n\s+at /);
});

test('a failing driver step is undone: bridge removed, state unchanged', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['init']);
  // An nft that refuses everything except reads makes the firewall step fail after the bridge exists
  // (on the process path: libnftables in-process would not run the fake).
  const fake = path.join(host.root, 'fakebin');
  fs.mkdirSync(fake);
  const realNft = (await host.exec('sh', ['-c', 'command -v nft'])).stdout.trim();
  fs.writeFileSync(
    path.join(fake, 'nft'),
    `#!/bin/sh\ncase "$*" in *list*|*--version*) exec ${realNft} "$@";; esac\necho "Error: injected failure" >&2\nexit 1\n`,
    { mode: 0o755 },
  );
  const before = await snapshot(host);
  const r = await host.volt(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24'], { env: { PATH: `${fake}:${process.env.PATH ?? ''}`, VOLT_KERNEL_ACCESS: 'process' } });
  t.is(r.code, 5, r.stderr);
  t.regex(r.stderr, /injected failure/);
  t.deepEqual(await snapshot(host), before);
});
