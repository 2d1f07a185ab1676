import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost } from '../harness';
import { snapshot } from './kernel-snapshot';
import { workload } from './400-lib';

interface Case {
  title: string;
  args: string[];
  exit: number;
  stderr: RegExp;
  /** A file written to <root>/input.yaml before the case. */
  file?: string;
}

const fw = (...a: string[]): string[] => ['net', 'firewall', 'add', '--name', 'x', ...a];
const port = (...a: string[]): string[] => ['net', 'port', 'add', ...a];
const pol = (...a: string[]): string[] => ['net', 'policy', 'create', '--name', 'x', ...a];

const cases: Case[] = [
  { title: 'port 0', args: fw('--dest', 'web', '--port', '0', '--action', 'drop'), exit: 2, stderr: /add firewall rule "x": port 0 is out of range \(1-65535\)/ },
  { title: 'port > 65535', args: fw('--dest', 'web', '--port', '80,70000', '--action', 'drop'), exit: 2, stderr: /port 70000 is out of range/ },
  { title: 'inverted range', args: fw('--dest', 'web', '--port', '9000-8000', '--action', 'drop'), exit: 2, stderr: /port range 9000-8000 is inverted\n\s+→ did you mean 8000-9000\?/ },
  { title: 'not a port', args: fw('--dest', 'web', '--port', 'http', '--action', 'drop'), exit: 2, stderr: /port "http" is not a number/ },
  { title: 'unknown proto', args: fw('--dest', 'web', '--proto', 'sctp', '--action', 'drop'), exit: 2, stderr: /unknown protocol "sctp"\n\s+→ use one of: tcp, udp, icmp, any/ },
  { title: 'unknown action', args: fw('--dest', 'web', '--action', 'allow'), exit: 2, stderr: /unknown action "allow"\n\s+→ use one of: accept, drop, reject/ },
  { title: 'icmp with ports', args: fw('--dest', 'web', '--proto', 'icmp', '--port', '8', '--action', 'drop'), exit: 2, stderr: /icmp has no ports/ },
  { title: 'unknown workload', args: fw('--dest', 'webb', '--action', 'drop'), exit: 3, stderr: /add firewall rule "x": no workload named "webb"\n\s+→ known workloads: db, web/ },
  { title: 'CIDR typo: three octets', args: fw('--source', '10.0.0/24', '--action', 'drop'), exit: 2, stderr: /--source "10\.0\.0\/24" is not a valid IPv4 subnet/ },
  { title: 'CIDR typo: prefix /33', args: fw('--source', '10.0.0.0/33', '--action', 'drop'), exit: 2, stderr: /--source "10\.0\.0\.0\/33" is not a valid IPv4 subnet/ },
  { title: 'CIDR typo: octet 300', args: fw('--dest', '10.0.0.300', '--action', 'drop'), exit: 2, stderr: /--dest "10\.0\.0\.300" is not a valid IPv4 address/ },
  { title: 'CIDR with host bits', args: fw('--source', '10.30.0.5/24', '--action', 'drop'), exit: 2, stderr: /has host bits set\n\s+→ did you mean 10\.30\.0\.0\/24 \(the subnet\) or 10\.30\.0\.5 \(one address\)\?/ },
  { title: 'duplicate rule name', args: ['net', 'firewall', 'add', '--name', 'existing', '--dest', 'db', '--action', 'drop'], exit: 4, stderr: /a rule with this name exists/ },
  { title: 'unknown network', args: fw('--network', 'nope', '--action', 'drop'), exit: 3, stderr: /network "nope" does not exist/ },
  { title: 'missing action', args: fw('--dest', 'web'), exit: 2, stderr: /Missing required flag action/ },
  { title: 'before an unknown rule', args: fw('--dest', 'web', '--action', 'drop', '--before', 'nope'), exit: 3, stderr: /--before "nope": no such rule/ },
  { title: 'delete an unknown rule', args: ['net', 'firewall', 'delete', '--name', 'nope'], exit: 3, stderr: /delete firewall rule "nope": no such rule\n\s+→ rules: existing/ },
  { title: 'rules file: invalid YAML', args: ['net', 'firewall', 'apply', '-f', 'FILE'], file: 'rules: [ {name: a\n', exit: 2, stderr: /not valid YAML or JSON/ },
  { title: 'rules file: unknown key', args: ['net', 'firewall', 'apply', '-f', 'FILE'], file: 'rules:\n  - { name: a, dst: web, action: drop }\n', exit: 2, stderr: /rules\[0\]: unknown key "dst"/ },
  { title: 'rules file: one bad rule', args: ['net', 'firewall', 'apply', '-f', 'FILE'], file: 'rules:\n  - { name: a, dest: web, action: drop }\n  - { name: b, dest: web, port: 0, action: drop }\n', exit: 2, stderr: /rule 2 \("b"\): port 0 is out of range/ },
  { title: 'rules file: duplicate names', args: ['net', 'firewall', 'apply', '-f', 'FILE'], file: 'rules:\n  - { name: a, dest: web, action: drop }\n  - { name: a, dest: db, action: drop }\n', exit: 4, stderr: /the name "a" is used twice/ },
  { title: 'rules file missing', args: ['net', 'firewall', 'apply', '-f', '/nonexistent/rules.yaml'], exit: 2, stderr: /read \/nonexistent\/rules\.yaml: ENOENT\n\s+→ check the path; "-" reads from stdin/ },
  { title: 'policies file missing', args: ['net', 'policy', 'apply', '-f', '/nonexistent/policies.yaml'], exit: 2, stderr: /read \/nonexistent\/policies\.yaml: ENOENT/ },
  { title: 'host port 0', args: port('--host-port', '0', '--target', 'web'), exit: 2, stderr: /--host-port 0 is out of range \(1-65535\)/ },
  { title: 'host port 65536', args: port('--host-port', '65536', '--target', 'web'), exit: 2, stderr: /--host-port 65536 is out of range/ },
  { title: 'target port 0', args: port('--host-port', '81', '--target', 'web', '--target-port', '0'), exit: 2, stderr: /--target-port 0 is out of range/ },
  { title: 'forward proto icmp', args: port('--host-port', '81', '--target', 'web', '--proto', 'icmp'), exit: 2, stderr: /unknown protocol "icmp"\n\s+→ use one of: tcp, udp/ },
  { title: 'forward to an unknown workload', args: port('--host-port', '81', '--target', 'nosuch'), exit: 3, stderr: /forward port 81\/tcp to nosuch:81: no workload named "nosuch"/ },
  { title: 'forward on a foreign address', args: port('--host-port', '81', '--target', 'web', '--host-ip', '192.0.2.9'), exit: 2, stderr: /192\.0\.2\.9 is not an address of this host/ },
  { title: 'forward on a malformed address', args: port('--host-port', '81', '--target', 'web', '--host-ip', '10.1.1'), exit: 2, stderr: /--host-ip "10\.1\.1" is not a valid IPv4 or IPv6 address/ },
  { title: 'host port already forwarded', args: port('--host-port', '8080', '--target', 'db'), exit: 4, stderr: /host port 8080\/tcp is already forwarded to web:80/ },
  { title: 'delete an unknown forward', args: ['net', 'port', 'delete', '--host-port', '9999'], exit: 3, stderr: /delete port forward 9999\/tcp: no such forward/ },
  { title: 'duplicate policy name', args: ['net', 'policy', 'create', '--name', 'existing', '--from', 'db', '--to', 'web', '--action', 'allow'], exit: 4, stderr: /a policy with this name exists/ },
  { title: 'policy to an unknown workload', args: pol('--to', 'nosuch', '--action', 'allow'), exit: 3, stderr: /create policy "x": no workload named "nosuch"/ },
  { title: 'policy from an address', args: pol('--from', '10.30.0.5', '--to', 'web', '--action', 'allow'), exit: 2, stderr: /--from "10\.30\.0\.5" is not a workload name\n\s+→ policies name workloads/ },
  { title: 'policy action accept', args: pol('--to', 'web', '--action', 'accept'), exit: 2, stderr: /unknown action "accept"\n\s+→ use one of: allow, deny/ },
  { title: 'policy port 0', args: pol('--to', 'web', '--port', '0', '--action', 'allow'), exit: 2, stderr: /port 0 is out of range/ },
  { title: 'policy over too many ports', args: pol('--to', 'web', '--port', '1-5000', '--action', 'allow'), exit: 2, stderr: /a policy covers at most 1024 ports/ },
  { title: 'delete an unknown policy', args: ['net', 'policy', 'delete', '--name', 'nope'], exit: 3, stderr: /delete policy "nope": no such policy/ },
  { title: 'test an unknown workload', args: ['net', 'policy', 'test', '--from', 'web', '--to', 'nope', '--port', '80'], exit: 3, stderr: /test connectivity: no workload named "nope"/ },
  { title: 'test without a port', args: ['net', 'policy', 'test', '--from', 'web', '--to', 'db'], exit: 2, stderr: /--port is required for tcp/ },
];

test('bad input for firewall rules, port forwards and policies: clear error, exit code by kind, kernel and state unchanged', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  await workload(host, 'web', 'backend');
  await workload(host, 'db', 'backend');
  await host.voltOk(['net', 'firewall', 'add', '--name', 'existing', '--dest', 'web', '--port', '22', '--proto', 'tcp', '--action', 'drop']);
  await host.voltOk(['net', 'port', 'add', '--host-port', '8080', '--target', 'web', '--target-port', '80']);
  await host.voltOk(['net', 'policy', 'create', '--name', 'existing', '--from', 'web', '--to', 'db', '--port', '5432', '--action', 'allow']);
  const file = path.join(host.root, 'input.yaml');

  for (const k of cases) {
    if (k.file !== undefined) fs.writeFileSync(file, k.file);
    const args = k.args.map((a) => (a === 'FILE' ? file : a));
    const before = await snapshot(host);
    const r = await host.volt(args);
    const after = await snapshot(host);
    t.is(r.code, k.exit, `${k.title}: exit code (stderr: ${r.stderr})`);
    t.regex(r.stderr, k.stderr, k.title);
    t.false(/\n\s+at /.test(r.stderr), `${k.title}: no stack trace without --debug`);
    t.deepEqual(after, before, `${k.title}: kernel and state unchanged`);
  }
});

test('a change the kernel refuses is a driver error (exit 5): kernel and state stay as they were', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  await workload(host, 'web', 'backend');
  // An nft that answers listings but refuses every change.
  const fake = path.join(host.root, 'fakebin');
  fs.mkdirSync(fake);
  const realNft = (await host.exec('sh', ['-c', 'command -v nft'])).stdout.trim();
  fs.writeFileSync(path.join(fake, 'nft'), `#!/bin/sh\ncase "$*" in *list*|*--version*) exec ${realNft} "$@";; esac\necho "Error: injected failure" >&2\nexit 1\n`, { mode: 0o755 });
  // The program path: libnftables in-process would not run the fake.
  const env = { PATH: `${fake}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`, VOLT_KERNEL_ACCESS: 'process' };
  for (const args of [
    ['net', 'firewall', 'add', '--name', 'x', '--dest', 'web', '--port', '22', '--proto', 'tcp', '--action', 'drop'],
    ['net', 'port', 'add', '--host-port', '8080', '--target', 'web', '--target-port', '80'],
    ['net', 'policy', 'create', '--name', 'x', '--from', 'any', '--to', 'web', '--action', 'allow'],
  ]) {
    const before = await snapshot(host);
    const r = await host.volt(args, { env });
    t.is(r.code, 5, `${args.slice(0, 3).join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /injected failure/);
    t.deepEqual(await snapshot(host), before, `${args.slice(0, 3).join(' ')}: nothing changed`);
  }
});
