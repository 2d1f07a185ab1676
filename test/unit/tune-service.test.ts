import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { voltPaths, type VoltPaths } from '@volt/sdk';
import { Sysctl, normalizeSysctlValue, type SysctlKey, type SysctlWrite } from '@volt/core/dist/kernel/sysctl';
import { TuneService } from '@volt/core/dist/services/tune/tune-service';

/**
 * The service over a fake /proc/sys (plain files with procfs-like modes) and a kernel
 * stand-in that refuses values containing "bad" (EINVAL) — after writing the first field,
 * as the kernel does for vectors like tcp_rmem.
 */
class FakeKernel extends Sysctl {
  writes: string[] = [];
  override write(key: SysctlKey, value: string): SysctlWrite {
    this.writes.push(`${key.name}=${value}`);
    if (value.includes('bad')) {
      const first = value.split(' ')[0]!;
      if (first !== 'bad') fs.writeFileSync(this.pathOf(key), first);
      return { ok: false, errno: 'EINVAL', message: 'invalid argument' };
    }
    return super.write(key, value);
  }
}

interface Fixture {
  svc: TuneService;
  kernel: FakeKernel;
  paths: VoltPaths;
  proc: string;
  warnings: string[];
  live(key: string): string;
  setLive(key: string, value: string): void;
  /** Every file under the fake /proc/sys and the volt root, with its content. */
  snapshot(): Record<string, string>;
}

function fixture(t: ExecutionContext, opts: { root?: boolean } = {}): Fixture {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-tune-svc-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const proc = path.join(dir, 'proc-sys');
  const file = (key: string, value: string, mode = 0o644): void => {
    const p = path.join(proc, ...key.split('.'));
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, `${value}\n`);
    fs.chmodSync(p, mode);
  };
  file('net.core.somaxconn', '4096');
  file('net.core.optmem_max', '131072');
  file('net.core.rmem_max', '4194304', 0o444);
  file('net.core.wmem_max', '4194304', 0o444);
  file('net.core.rmem_default', '212992', 0o444);
  file('net.core.wmem_default', '212992', 0o444);
  file('net.ipv4.ip_forward', '0');
  file('net.ipv4.tcp_rmem', '4096\t131072\t6291456');
  file('net.ipv4.tcp_wmem', '4096\t16384\t4194304');
  file('net.ipv4.route.flush', '', 0o200);
  file('vm.swappiness', '60');
  if (opts.root) {
    file('net.core.netdev_max_backlog', '1000');
    for (const k of ['rmem_max', 'wmem_max', 'rmem_default', 'wmem_default']) fs.chmodSync(path.join(proc, 'net/core', k), 0o644);
  }
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  const paths = voltPaths({ VOLT_ROOT: root });
  const kernel = new FakeKernel(proc);
  const warnings: string[] = [];
  const svc = new TuneService({ paths, sysctl: kernel, warn: (m) => warnings.push(m), now: () => '2025-01-01T00:00:00.000Z' });
  const keyPath = (key: string): string => path.join(proc, ...key.split('.'));
  const walk = (d: string, out: Record<string, string>): Record<string, string> => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p, out);
      else if (!(fs.statSync(p).mode & 0o444)) out[path.relative(dir, p)] = '(write-only)';
      // Values as the kernel would show them (a plain file keeps whatever whitespace was written).
      else out[path.relative(dir, p)] = p.startsWith(proc) ? normalizeSysctlValue(fs.readFileSync(p, 'utf8')) : fs.readFileSync(p, 'utf8');
    }
    return out;
  };
  return {
    svc,
    kernel,
    paths,
    proc,
    warnings,
    live: (key) => fs.readFileSync(keyPath(key), 'utf8').trim(),
    setLive: (key, value) => fs.writeFileSync(keyPath(key), `${value}\n`),
    snapshot: () => {
      const all = walk(dir, {});
      delete all['root/var/lib/volt/tuning.lock'];
      return all;
    },
  };
}

async function rejects(t: ExecutionContext, p: Promise<unknown>, exit: number, code: string, message: RegExp): Promise<{ suggestions: string[] }> {
  const e = (await t.throwsAsync(p)) as unknown as { exitCode: number; code: string; message: string; suggestions: string[] };
  t.is(e.exitCode, exit, e.message);
  t.is(e.code, code, e.message);
  t.regex(e.message, message);
  return e;
}

test('set writes the kernel, persists the stored value, and records the value from before volt', async (t) => {
  const f = fixture(t);
  const [c] = await f.svc.set([{ key: 'net.core.somaxconn', value: '65535' }]);
  t.deepEqual(c, { key: 'net.core.somaxconn', value: '65535', before: '4096', previous: '4096', changed: true });
  t.is(f.live('net.core.somaxconn'), '65535');
  t.regex(fs.readFileSync(f.paths.sysctlConfFile, 'utf8'), /^net\.core\.somaxconn = 65535$/m);
  const record = JSON.parse(fs.readFileSync(f.paths.tuningFile, 'utf8')) as { sysctls: Record<string, { value: string; previous: string }> };
  t.deepEqual(record.sysctls['net.core.somaxconn'], { value: '65535', previous: '4096', setAt: '2025-01-01T00:00:00.000Z', updatedAt: '2025-01-01T00:00:00.000Z' });

  // A second set keeps the original "previous".
  const [c2] = await f.svc.set([{ key: 'net/core/somaxconn', value: ' 1024 ' }]);
  t.is(c2!.before, '65535');
  t.is(c2!.previous, '4096');
  t.is(f.live('net.core.somaxconn'), '1024');
  t.regex(fs.readFileSync(f.paths.sysctlConfFile, 'utf8'), /^net\.core\.somaxconn = 1024$/m);
});

test('vectors are stored in one form; byte-size keys take K/M/G', async (t) => {
  const f = fixture(t, { root: true });
  await f.svc.set([{ key: 'net.ipv4.tcp_rmem', value: '4096\t131072   16777216' }]);
  t.regex(fs.readFileSync(f.paths.sysctlConfFile, 'utf8'), /^net\.ipv4\.tcp_rmem = 4096 131072 16777216$/m);
  await f.svc.set([{ key: 'net.core.rmem_max', value: '16M' }]);
  t.is(f.live('net.core.rmem_max'), '16777216');
  await rejects(t, f.svc.set([{ key: 'net.core.wmem_max', value: '16MB' }]), 2, 'E_BAD_SIZE', /set net\.core\.wmem_max: "16MB" is not a size/);
});

test('a refused value undoes the keys already written and persists nothing', async (t) => {
  const f = fixture(t);
  const before = f.snapshot();
  await rejects(
    t,
    f.svc.set([
      { key: 'net.core.somaxconn', value: '65535' },
      { key: 'net.ipv4.tcp_rmem', value: '8192 bad 0' },
    ]),
    2,
    'E_SYSCTL_VALUE',
    /^set net\.ipv4\.tcp_rmem: the kernel refused "8192 bad 0" \(EINVAL: invalid argument\)$/,
  );
  // somaxconn was written, then put back; tcp_rmem's half-written first field too.
  t.true(f.kernel.writes.includes('net.core.somaxconn=65535'));
  t.deepEqual(f.snapshot(), before);
});

test('a failure to persist undoes the kernel write', async (t) => {
  const f = fixture(t);
  await f.svc.set([{ key: 'net.ipv4.ip_forward', value: '1' }]);
  const before = f.snapshot();
  // The conf file cannot be replaced: its path is a non-empty directory now.
  fs.rmSync(f.paths.sysctlConfFile);
  fs.mkdirSync(path.join(f.paths.sysctlConfFile, 'x'), { recursive: true });
  const blocked = f.snapshot();
  // It fails after the kernel write (reading the old file to keep for undo): exit 5, a driver-side failure.
  await rejects(t, f.svc.set([{ key: 'net.core.somaxconn', value: '65535' }]), 5, 'E_READ', /^read .*90-volt\.conf: EISDIR/);
  t.true(f.kernel.writes.includes('net.core.somaxconn=65535'));
  t.is(f.live('net.core.somaxconn'), '4096');
  t.deepEqual(f.snapshot(), blocked);
  t.not(before, blocked);
});

interface BadCase {
  title: string;
  run(svc: TuneService): Promise<unknown>;
  exit: number;
  code: string;
  message: RegExp;
  suggestion?: RegExp;
}

const badCases: BadCase[] = [
  { title: 'outside net.*', run: (s) => s.set([{ key: 'vm.swappiness', value: '10' }]), exit: 2, code: 'E_SYSCTL_SCOPE', message: /^set vm\.swappiness: volt changes network sysctls \(net\.\*\) only$/ },
  { title: 'a typo', run: (s) => s.set([{ key: 'net.core.somaxcon', value: '1' }]), exit: 3, code: 'E_SYSCTL_UNKNOWN', message: /no such key/, suggestion: /did you mean net\.core\.somaxconn\?/ },
  { title: 'a global key from a non-root namespace', run: (s) => s.set([{ key: 'net.core.netdev_max_backlog', value: '5000' }]), exit: 3, code: 'E_SYSCTL_GLOBAL', message: /global to the machine.*only in the root network namespace/ },
  { title: 'read-only here', run: (s) => s.set([{ key: 'net.core.rmem_max', value: '16M' }]), exit: 2, code: 'E_SYSCTL_READ_ONLY', message: /read-only in this network namespace/ },
  { title: 'write-only', run: (s) => s.set([{ key: 'net.ipv4.route.flush', value: '1' }]), exit: 2, code: 'E_SYSCTL_WRITE_ONLY', message: /write-only/ },
  { title: 'a group', run: (s) => s.set([{ key: 'net.core', value: '1' }]), exit: 2, code: 'E_SYSCTL_GROUP', message: /net\.core is a group of keys/ },
  { title: 'a malformed name', run: (s) => s.set([{ key: 'net/../../etc/shadow', value: '1' }]), exit: 2, code: 'E_SYSCTL_NAME', message: /not a sysctl name/ },
  { title: 'an empty value', run: (s) => s.set([{ key: 'net.core.somaxconn', value: '  ' }]), exit: 2, code: 'E_SYSCTL_VALUE', message: /the value is empty/ },
  { title: 'a line break', run: (s) => s.set([{ key: 'net.core.somaxconn', value: '1\nkernel.panic = 1' }]), exit: 2, code: 'E_SYSCTL_VALUE', message: /line break/ },
  { title: 'the same key twice', run: (s) => s.set([{ key: 'net.core.somaxconn', value: '1' }, { key: 'net/core/somaxconn', value: '2' }]), exit: 2, code: 'E_DUPLICATE', message: /given twice/ },
  { title: 'buffers: nothing given', run: (s) => s.buffers({}), exit: 2, code: 'E_ARG_MISSING', message: /nothing to change/ },
  { title: 'buffers: a bad size', run: (s) => s.buffers({ tcpRmemMax: '1.5M' }), exit: 2, code: 'E_BAD_SIZE', message: /--tcp-rmem-max: "1\.5M" is not a size/ },
  { title: 'buffers: TCP max below its default', run: (s) => s.buffers({ tcpRmemMax: '64K' }), exit: 2, code: 'E_BUFFER_ORDER', message: /--tcp-rmem-max 64K is smaller than the TCP default buffer 128K/ },
  { title: 'buffers: default above the current max', run: (s) => s.buffers({ rmemDefault: '8M' }), exit: 2, code: 'E_BUFFER_ORDER', message: /--rmem-default 8M is larger than the current net\.core\.rmem_max \(4M\)/ },
  { title: 'buffers: core keys are read-only outside the root namespace', run: (s) => s.buffers({ rmemMax: '16M', tcpRmemMax: '16M' }), exit: 2, code: 'E_SYSCTL_READ_ONLY', message: /set net\.core\.rmem_max: the key is read-only in this network namespace/ },
  { title: 'unset: not managed', run: (s) => s.unset('net.core.somaxconn', true), exit: 3, code: 'E_SYSCTL_NOT_MANAGED', message: /volt does not manage this key/, suggestion: /volt manages no sysctls yet/ },
  { title: 'get: unknown', run: async (s) => s.get(['net.ipv4.ip_foward']), exit: 3, code: 'E_SYSCTL_UNKNOWN', message: /no such key/, suggestion: /did you mean net\.ipv4\.ip_forward\?/ },
];

test('bad input: a clear error, the right exit code, nothing written', async (t) => {
  const f = fixture(t);
  const before = f.snapshot();
  for (const k of badCases) {
    const e = await rejects(t, k.run(f.svc), k.exit, k.code, k.message);
    if (k.suggestion) t.regex(e.suggestions.join('\n'), k.suggestion, k.title);
    t.deepEqual(f.snapshot(), before, `${k.title}: nothing changed`);
  }
  t.deepEqual(f.kernel.writes, [], 'validation happens before any write');
});

test('buffers in the root namespace: the core keys, and the order check uses the new max', async (t) => {
  const f = fixture(t, { root: true });
  const changes = await f.svc.buffers({ rmemMax: '16M', wmemMax: '16M', rmemDefault: '8M', tcpWmemMax: '16M' });
  t.deepEqual(
    changes.map((c) => `${c.key}=${c.value}`),
    ['net.core.rmem_max=16777216', 'net.core.wmem_max=16777216', 'net.core.rmem_default=8388608', 'net.ipv4.tcp_wmem=4096 16384 16777216'],
  );
  t.is(f.live('net.core.rmem_default'), '8388608');
  await rejects(t, f.svc.buffers({ wmemMax: '128K' }), 2, 'E_BUFFER_ORDER', /the current net\.core\.wmem_default \(208K\) is larger than --wmem-max 128K/);
});

test('unset restores the earlier value only while the key still holds volt\'s', async (t) => {
  const f = fixture(t);
  await f.svc.set([
    { key: 'net.core.somaxconn', value: '65535' },
    { key: 'net.ipv4.ip_forward', value: '1' },
    { key: 'net.core.optmem_max', value: '262144' },
  ]);
  const r = await f.svc.unset('net.core.somaxconn', true);
  t.is(r.restored, '4096');
  t.is(f.live('net.core.somaxconn'), '4096');
  t.notRegex(fs.readFileSync(f.paths.sysctlConfFile, 'utf8'), /somaxconn/);

  f.setLive('net.ipv4.ip_forward', '0');
  f.setLive('net.ipv4.ip_forward', '1');
  f.setLive('net.core.optmem_max', '100000');
  const r2 = await f.svc.unset('net.core.optmem_max', true);
  t.is(r2.restored, undefined);
  t.regex(r2.note!, /left at 100000: changed since volt set 262144/);
  t.is(f.live('net.core.optmem_max'), '100000');

  const r3 = await f.svc.unset('net.ipv4.ip_forward', false);
  t.is(r3.restored, undefined);
  t.is(f.live('net.ipv4.ip_forward'), '1');
  // The last key gone: the conf file is removed, the record is empty.
  t.false(fs.existsSync(f.paths.sysctlConfFile));
  t.deepEqual(f.svc.list().settings, []);
});

test('list and show report drift in the kernel and in the conf file', async (t) => {
  const f = fixture(t);
  await f.svc.set([{ key: 'net.core.somaxconn', value: '65535' }]);
  t.deepEqual(f.svc.list().drift, []);
  f.setLive('net.core.somaxconn', '128');
  fs.appendFileSync(f.paths.sysctlConfFile, 'net.ipv4.ip_forward = 1\n');
  const list = f.svc.list();
  t.is(list.namespace, 'non-root');
  t.deepEqual(list.settings.map((s) => [s.key, s.live, s.managed, s.previous, s.status]), [['net.core.somaxconn', '128', '65535', '4096', 'drift']]);
  t.deepEqual(list.drift, [
    'net.core.somaxconn is 128 in the kernel, volt set 65535',
    `${f.paths.sysctlConfFile} sets net.ipv4.ip_forward, which volt's record does not have`,
  ]);
  const show = f.svc.show();
  const backlog = show.settings.find((s) => s.key === 'net.core.netdev_max_backlog')!;
  t.is(backlog.live, undefined);
  t.regex(backlog.note!, /global/);
  t.is(show.settings.find((s) => s.key === 'net.ipv4.ip_forward')!.status, 'unmanaged');
  t.deepEqual(show.drift, list.drift);
});

test('reapply puts back drifted keys and the conf file; with nothing managed it does nothing', async (t) => {
  const f = fixture(t);
  t.deepEqual(await f.svc.reapply(), { repaired: [], failures: [] });
  t.false(fs.existsSync(f.paths.tuningLockFile), 'no lock file when volt manages nothing');

  await f.svc.set([{ key: 'net.core.somaxconn', value: '65535' }, { key: 'net.ipv4.ip_forward', value: '1' }]);
  const conf = fs.readFileSync(f.paths.sysctlConfFile, 'utf8');
  f.setLive('net.core.somaxconn', '128');
  fs.writeFileSync(f.paths.sysctlConfFile, 'net.core.somaxconn = 1\n');
  const r = await f.svc.reapply();
  t.deepEqual(r.failures, []);
  t.deepEqual(r.repaired, ['sysctl net.core.somaxconn was 128, set back to 65535', `${f.paths.sysctlConfFile} did not match volt's record: rewritten`]);
  t.is(f.live('net.core.somaxconn'), '65535');
  t.is(fs.readFileSync(f.paths.sysctlConfFile, 'utf8'), conf);
  t.deepEqual(await f.svc.reapply(), { repaired: [], failures: [] }, 'a second run changes nothing');
});
