import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost } from '../harness';

/**
 * `volt tune` in sandbox hosts. Only keys the kernel keeps per network namespace are ever
 * written (somaxconn, ip_forward, tcp_rmem/tcp_wmem, ip_local_port_range, optmem_max — checked
 * on 6.x); every test asserts the machine's root namespace (where this test process runs)
 * kept its values. Global keys (netdev_max_backlog) and keys read-only outside the root
 * namespace (net.core.rmem_max …) are only exercised through paths that write nothing.
 */

const WATCHED = [
  'net.core.somaxconn',
  'net.core.optmem_max',
  'net.core.rmem_max',
  'net.core.wmem_max',
  'net.core.rmem_default',
  'net.core.wmem_default',
  'net.ipv4.ip_forward',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_congestion_control',
];

const procPath = (key: string): string => `/proc/sys/${key.replace(/\./g, '/')}`;
const norm = (v: string): string => v.trim().split(/\s+/).join(' ');

/** Values in the machine's root network namespace (this process). */
function rootValues(): Record<string, string> {
  return Object.fromEntries(WATCHED.map((k) => [k, norm(fs.readFileSync(procPath(k), 'utf8'))]));
}

/** Values inside the sandbox. */
async function sandboxValues(host: SandboxHost): Promise<Record<string, string>> {
  const r = await host.execOk('sh', ['-c', WATCHED.map((k) => `printf '%s\\n' "$(cat ${procPath(k)})"`).join('; ')]);
  const lines = r.stdout.split('\n');
  return Object.fromEntries(WATCHED.map((k, i) => [k, norm(lines[i] ?? '')]));
}

async function sandboxValue(host: SandboxHost, key: string): Promise<string> {
  return norm((await host.execOk('cat', [procPath(key)])).stdout);
}

async function setInSandbox(host: SandboxHost, key: string, value: string): Promise<void> {
  await host.execOk('sh', ['-c', `printf '%s' "$1" > ${procPath(key)}`, 'sh', value]);
}

const confFile = (host: SandboxHost): string => path.join(host.root, 'etc/sysctl.d/90-volt.conf');
const recordFile = (host: SandboxHost): string => path.join(host.root, 'var/lib/volt/tuning.json');

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

interface Snap {
  conf: string | null;
  record: string | null;
  sandbox: Record<string, string>;
  root: Record<string, string>;
}

async function snap(host: SandboxHost): Promise<Snap> {
  return { conf: readOrNull(confFile(host)), record: readOrNull(recordFile(host)), sandbox: await sandboxValues(host), root: rootValues() };
}

async function sandbox(t: ExecutionContext): Promise<{ host: SandboxHost; initial: Record<string, string>; root: Record<string, string> }> {
  const root = rootValues();
  const host = await SandboxHost.create(t, { uplink: false });
  return { host, initial: await sandboxValues(host), root };
}

test('set, get, buffers, list, show, unset: live in the sandbox, persisted for boot, root namespace untouched', async (t) => {
  const { host, initial, root } = await sandbox(t);
  t.not(initial['net.core.somaxconn'], '65535', 'the test needs a value to change');

  const set = await host.voltOk(['tune', 'sysctl', 'set', 'net.core.somaxconn', '65535']);
  t.is(set.stdout, `net.core.somaxconn = 65535 (was ${initial['net.core.somaxconn']})\npersisted in ${confFile(host)}\n`);
  t.is(await sandboxValue(host, 'net.core.somaxconn'), '65535');

  await host.voltOk(['tune', 'sysctl', 'set', 'net.ipv4.ip_forward', '1']);
  t.is((await host.voltOk(['tune', 'sysctl', 'get', 'net.ipv4.ip_forward'])).stdout, 'net.ipv4.ip_forward = 1\n');

  const buffers = await host.voltJson<{ changes: { key: string; value: string; before: string }[]; file: string }>([
    'tune', 'net', 'buffers', '--tcp-rmem-max', '16M', '--tcp-wmem-max', '8M', '-o', 'json',
  ]);
  const [rmin, rdef] = initial['net.ipv4.tcp_rmem']!.split(' ');
  const [wmin, wdef] = initial['net.ipv4.tcp_wmem']!.split(' ');
  t.deepEqual(
    buffers.changes.map((c) => [c.key, c.value, c.before]),
    [
      ['net.ipv4.tcp_rmem', `${rmin} ${rdef} 16777216`, initial['net.ipv4.tcp_rmem']],
      ['net.ipv4.tcp_wmem', `${wmin} ${wdef} 8388608`, initial['net.ipv4.tcp_wmem']],
    ],
  );
  t.is(buffers.file, confFile(host));
  t.is(await sandboxValue(host, 'net.ipv4.tcp_rmem'), `${rmin} ${rdef} 16777216`);
  t.is(await sandboxValue(host, 'net.ipv4.tcp_wmem'), `${wmin} ${wdef} 8388608`);

  // The persisted file: exactly what systemd-sysctl should apply, sorted.
  const conf = fs.readFileSync(confFile(host), 'utf8');
  t.deepEqual(
    conf.split('\n').filter((l) => l !== '' && !l.startsWith('#')),
    ['net.core.somaxconn = 65535', 'net.ipv4.ip_forward = 1', `net.ipv4.tcp_rmem = ${rmin} ${rdef} 16777216`, `net.ipv4.tcp_wmem = ${wmin} ${wdef} 8388608`],
  );
  t.is(fs.statSync(confFile(host)).mode & 0o777, 0o644);
  t.deepEqual(fs.readdirSync(path.dirname(confFile(host))), ['90-volt.conf'], 'no temp file left behind');

  // systemd-sysctl, as at boot (inside the sandbox: every key in the file is per-namespace).
  await setInSandbox(host, 'net.core.somaxconn', '128');
  await host.execOk('/lib/systemd/systemd-sysctl', [confFile(host)]);
  t.is(await sandboxValue(host, 'net.core.somaxconn'), '65535', 'systemd-sysctl applies the file');

  const list = await host.voltJson<{ settings: { key: string; live: string; managed: string; previous: string; status: string }[]; drift: string[] }>(['tune', 'sysctl', 'list', '-o', 'json']);
  t.deepEqual(
    list.settings.map((s) => [s.key, s.live, s.managed, s.previous, s.status]),
    [
      ['net.core.somaxconn', '65535', '65535', initial['net.core.somaxconn'], 'ok'],
      ['net.ipv4.ip_forward', '1', '1', initial['net.ipv4.ip_forward'], 'ok'],
      ['net.ipv4.tcp_rmem', `${rmin} ${rdef} 16777216`, `${rmin} ${rdef} 16777216`, initial['net.ipv4.tcp_rmem'], 'ok'],
      ['net.ipv4.tcp_wmem', `${wmin} ${wdef} 8388608`, `${wmin} ${wdef} 8388608`, initial['net.ipv4.tcp_wmem'], 'ok'],
    ],
  );
  t.deepEqual(list.drift, []);

  const show = await host.voltJson<{ namespace: string; settings: { key: string; live?: string; status: string; writable: boolean; note?: string }[]; drift: string[] }>(['tune', 'net', 'show', '-o', 'json']);
  t.is(show.namespace, 'non-root');
  const byKey = new Map(show.settings.map((s) => [s.key, s]));
  t.like(byKey.get('net.core.somaxconn'), { live: '65535', status: 'ok', writable: true });
  t.like(byKey.get('net.core.rmem_max'), { live: initial['net.core.rmem_max'], status: 'unmanaged', writable: false });
  t.like(byKey.get('net.core.netdev_max_backlog'), { status: 'unmanaged', writable: false });
  t.is(byKey.get('net.core.netdev_max_backlog')!.live, undefined);
  t.regex(byKey.get('net.core.netdev_max_backlog')!.note!, /global/);
  const table = (await host.voltOk(['tune', 'net', 'show'])).stdout;
  t.regex(table, /^KEY +LIVE +VOLT +BEFORE VOLT +STATUS +NOTE$/m);
  t.regex(table, /^net\.core\.somaxconn +65535 +65535 +\d+ +ok/m);
  t.regex(table, /^Drift: none$/m);

  // Setting a key again keeps the value from before volt; unset restores it.
  await host.voltOk(['tune', 'sysctl', 'set', 'net.core.somaxconn', '32768']);
  const unset = await host.voltOk(['tune', 'sysctl', 'unset', 'net.core.somaxconn']);
  t.is(unset.stdout, `unset net.core.somaxconn: restored ${initial['net.core.somaxconn']}; removed from ${confFile(host)}\n`);
  t.is(await sandboxValue(host, 'net.core.somaxconn'), initial['net.core.somaxconn']);
  t.notRegex(fs.readFileSync(confFile(host), 'utf8'), /somaxconn/);

  const keep = await host.voltOk(['tune', 'sysctl', 'unset', 'net.ipv4.ip_forward', '--no-restore']);
  t.regex(keep.stdout, /left at its current value/);
  t.is(await sandboxValue(host, 'net.ipv4.ip_forward'), '1');
  await host.voltOk(['tune', 'sysctl', 'unset', 'net.ipv4.tcp_rmem']);
  await host.voltOk(['tune', 'sysctl', 'unset', 'net.ipv4.tcp_wmem']);
  t.is(await sandboxValue(host, 'net.ipv4.tcp_rmem'), initial['net.ipv4.tcp_rmem']);
  t.false(fs.existsSync(confFile(host)), 'the last unset removes the file');
  t.is((await host.voltOk(['tune', 'sysctl', 'list'])).stdout, 'volt manages no sysctls: set one with `volt tune sysctl set KEY VALUE`\n');

  t.deepEqual(rootValues(), root, 'the root network namespace kept its values');
});

interface Case {
  title: string;
  args: string[];
  exit: number;
  stderr: RegExp;
}

const cases: Case[] = [
  { title: 'buffers: core keys are read-only outside the root namespace', args: ['tune', 'net', 'buffers', '--rmem-max', '16M', '--wmem-max', '16M'], exit: 2, stderr: /^Error: set net\.core\.rmem_max: the key is read-only in this network namespace \(the kernel lets only the root namespace change it\)\n\s+→ run volt in the host’s root network namespace/ },
  { title: 'buffers: read-only core key together with a writable TCP key', args: ['tune', 'net', 'buffers', '--tcp-rmem-max', '16M', '--wmem-max', '16M'], exit: 2, stderr: /set net\.core\.wmem_max: the key is read-only/ },
  { title: 'buffers: not a size', args: ['tune', 'net', 'buffers', '--tcp-rmem-max', '16Q'], exit: 2, stderr: /^Error: tune net buffers --tcp-rmem-max: "16Q" is not a size\n\s+→ write a whole number of bytes, or one with K, M or G/ },
  { title: 'buffers: "MB"', args: ['tune', 'net', 'buffers', '--tcp-wmem-max', '16MB'], exit: 2, stderr: /"16MB" is not a size\n\s+→ "MB" is ambiguous: write 16M/ },
  { title: 'buffers: a fraction', args: ['tune', 'net', 'buffers', '--tcp-wmem-max', '1.5M'], exit: 2, stderr: /"1\.5M" is not a size/ },
  { title: 'buffers: too large for an int', args: ['tune', 'net', 'buffers', '--tcp-rmem-max', '2G'], exit: 2, stderr: /2G is too large \(at most 2147483647 bytes, 2G - 1\)/ },
  { title: 'buffers: TCP max below the TCP default', args: ['tune', 'net', 'buffers', '--tcp-rmem-max', '1K'], exit: 2, stderr: /--tcp-rmem-max 1K is smaller than the TCP default buffer/ },
  { title: 'buffers: nothing to change', args: ['tune', 'net', 'buffers'], exit: 2, stderr: /tune net buffers: nothing to change\n\s+→ give at least one of --rmem-max/ },
  { title: 'set: outside net.*', args: ['tune', 'sysctl', 'set', 'vm.swappiness', '10'], exit: 2, stderr: /^Error: set vm\.swappiness: volt changes network sysctls \(net\.\*\) only\n/ },
  { title: 'set: kernel.*', args: ['tune', 'sysctl', 'set', 'kernel.hostname', 'x'], exit: 2, stderr: /volt changes network sysctls \(net\.\*\) only/ },
  { title: 'set: a global key from a sandbox', args: ['tune', 'sysctl', 'set', 'net.core.netdev_max_backlog', '5000'], exit: 3, stderr: /set net\.core\.netdev_max_backlog: the key is global to the machine, and the kernel shows it only in the root network namespace/ },
  { title: 'set: a typo', args: ['tune', 'sysctl', 'set', 'net.core.somaxcon', '1024'], exit: 3, stderr: /^Error: set net\.core\.somaxcon: no such key \(\/proc\/sys\/net\/core\/somaxcon does not exist\)\n\s+→ did you mean net\.core\.somaxconn\?/ },
  { title: 'set: the kernel refuses a vector (half-written, put back)', args: ['tune', 'sysctl', 'set', 'net.ipv4.tcp_rmem', '8192 0 0'], exit: 2, stderr: /set net\.ipv4\.tcp_rmem: the kernel refused "8192 0 0" \(EINVAL: invalid argument\)\n\s+→ the current value is \d+ \d+ \d+\n\s+→ it takes three numbers: min default max/ },
  { title: 'set: the kernel refuses a range', args: ['tune', 'sysctl', 'set', 'net.ipv4.ip_local_port_range', '60000 50000'], exit: 2, stderr: /the kernel refused "60000 50000" \(EINVAL/ },
  { title: 'set: the kernel refuses a word for a number', args: ['tune', 'sysctl', 'set', 'net.core.somaxconn', 'lots'], exit: 2, stderr: /set net\.core\.somaxconn: the kernel refused "lots" \(EINVAL/ },
  { title: 'set: unknown congestion control', args: ['tune', 'sysctl', 'set', 'net.ipv4.tcp_congestion_control', 'nope'], exit: 2, stderr: /the kernel refused "nope" \(ENOENT: no such value\)[^]*→ available here: / },
  { title: 'set: a group', args: ['tune', 'sysctl', 'set', 'net.ipv4.conf', '1'], exit: 2, stderr: /net\.ipv4\.conf is a group of keys, not a key/ },
  { title: 'set: write-only', args: ['tune', 'sysctl', 'set', 'net.ipv4.route.flush', '1'], exit: 2, stderr: /write-only/ },
  { title: 'set: a path', args: ['tune', 'sysctl', 'set', 'net/../../kernel/hostname', 'x'], exit: 2, stderr: /not a sysctl name/ },
  { title: 'set: an empty value', args: ['tune', 'sysctl', 'set', 'net.core.somaxconn', ' '], exit: 2, stderr: /the value is empty/ },
  { title: 'set: a size on a byte key still validated', args: ['tune', 'sysctl', 'set', 'net.core.optmem_max', '1.5M'], exit: 2, stderr: /set net\.core\.optmem_max: "1\.5M" is not a size/ },
  { title: 'unset: not managed', args: ['tune', 'sysctl', 'unset', 'net.core.optmem_max'], exit: 3, stderr: /unset net\.core\.optmem_max: volt does not manage this key\n\s+→ volt manages: net\.core\.somaxconn, net\.ipv4\.tcp_wmem/ },
  { title: 'get: a typo', args: ['tune', 'sysctl', 'get', 'net.ipv4.ip_foward'], exit: 3, stderr: /did you mean net\.ipv4\.ip_forward\?/ },
];

test('bad input: one-line error with suggestions, exit code, kernel and files unchanged', async (t) => {
  const { host, root } = await sandbox(t);
  await host.voltOk(['tune', 'sysctl', 'set', 'net.core.somaxconn', '65535']);
  await host.voltOk(['tune', 'net', 'buffers', '--tcp-wmem-max', '8M']);
  for (const k of cases) {
    const before = await snap(host);
    const r = await host.volt(k.args);
    const after = await snap(host);
    t.is(r.code, k.exit, `${k.title}: exit code (stderr: ${r.stderr})`);
    t.regex(r.stderr, k.stderr, k.title);
    t.is(r.stdout, '', `${k.title}: nothing on stdout`);
    t.false(/\n\s+at /.test(r.stderr), `${k.title}: no stack trace`);
    t.deepEqual(after, before, `${k.title}: kernel and files unchanged`);
  }
  t.deepEqual(rootValues(), root, 'the root network namespace kept its values');
});

test('drift is reported, and `volt net up` puts tuning back', async (t) => {
  const { host, initial, root } = await sandbox(t);
  await host.voltOk(['tune', 'sysctl', 'set', 'net.core.somaxconn', '65535']);
  await host.voltOk(['tune', 'sysctl', 'set', 'net.ipv4.tcp_rmem', '4096 131072 16777216']);
  const conf = fs.readFileSync(confFile(host), 'utf8');

  // Someone changes the kernel and edits the file by hand.
  await setInSandbox(host, 'net.core.somaxconn', '128');
  fs.appendFileSync(confFile(host), 'net.core.optmem_max = 65536\n');
  const list = await host.voltJson<{ drift: string[] }>(['tune', 'sysctl', 'list', '-o', 'json']);
  t.deepEqual(list.drift, ['net.core.somaxconn is 128 in the kernel, volt set 65535', `${confFile(host)} sets net.core.optmem_max, which volt's record does not have`]);
  t.regex((await host.voltOk(['tune', 'net', 'show'])).stdout, /^Drift:\n {2}- net\.core\.somaxconn is 128 in the kernel, volt set 65535$/m);

  const up = await host.voltJson<{ drift: string[]; applied: boolean }>(['net', 'up', '-o', 'json']);
  t.true(up.applied);
  t.true(up.drift.includes('sysctl net.core.somaxconn was 128, set back to 65535'), up.drift.join('; '));
  t.true(up.drift.includes(`${confFile(host)} did not match volt's record: rewritten`), up.drift.join('; '));
  t.is(await sandboxValue(host, 'net.core.somaxconn'), '65535');
  t.is(await sandboxValue(host, 'net.core.optmem_max'), initial['net.core.optmem_max'], 'a line volt did not write is not applied');
  t.is(fs.readFileSync(confFile(host), 'utf8'), conf);
  t.deepEqual((await host.voltJson<{ drift: string[] }>(['tune', 'sysctl', 'list', '-o', 'json'])).drift, []);

  const again = await host.voltJson<{ applied: boolean }>(['net', 'up', '-o', 'json']);
  t.false(again.applied, 'a second `net up` changes nothing');
  t.deepEqual(rootValues(), root, 'the root network namespace kept its values');
});
