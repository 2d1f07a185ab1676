import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  SYSCTL_CONF_HEADER,
  emptyTuning,
  loadTuning,
  parseSysctlConf,
  parseTuning,
  renderSysctlConf,
  renderTuning,
  syncSysctlConf,
  writeFileAtomic,
  type TuningRecord,
} from '@volt/core/dist/services/tune/tune-conf';

function tmpdir(t: { teardown(f: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-tune-conf-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the conf file: header, then "key = value" sorted by key', (t) => {
  const text = renderSysctlConf([
    { key: 'net.ipv4.tcp_rmem', value: '4096 131072 16777216' },
    { key: 'net.core.somaxconn', value: '65535' },
    { key: 'net.ipv4.ip_forward', value: '1' },
  ]);
  t.is(
    text,
    [...SYSCTL_CONF_HEADER, 'net.core.somaxconn = 65535', 'net.ipv4.ip_forward = 1', 'net.ipv4.tcp_rmem = 4096 131072 16777216', ''].join('\n'),
  );
  t.true(SYSCTL_CONF_HEADER.every((l) => l.startsWith('#')));
});

test('rendering is deterministic: the same entries in any order give the same bytes', (t) => {
  const a = renderSysctlConf([{ key: 'b.x', value: '1' }, { key: 'a.y', value: '2' }]);
  const b = renderSysctlConf([{ key: 'a.y', value: '2' }, { key: 'b.x', value: '1' }]);
  t.is(a, b);
});

test('a line break in a key or value is refused (it would inject a line)', (t) => {
  t.throws(() => renderSysctlConf([{ key: 'net.core.somaxconn', value: '1\nkernel.panic = 1' }]), { message: /line break/ });
  t.throws(() => renderSysctlConf([{ key: 'net.core.x\n', value: '1' }]), { message: /line break/ });
});

test('parse reads what systemd-sysctl reads: comments, "-" prefix, last wins, whitespace', (t) => {
  const m = parseSysctlConf(
    ['# comment', '; also a comment', '', 'net.core.somaxconn=1024', '-net.ipv4.ip_forward = 1', 'net.core.somaxconn =  65535 ', 'net.ipv4.tcp_rmem = 4096\t131072   6291456', 'garbage line'].join('\n'),
  );
  t.deepEqual([...m.entries()], [
    ['net.core.somaxconn', '65535'],
    ['net.ipv4.ip_forward', '1'],
    ['net.ipv4.tcp_rmem', '4096 131072 6291456'],
  ]);
});

test('render then parse gives the entries back', (t) => {
  const entries = [
    { key: 'net.core.somaxconn', value: '65535' },
    { key: 'net/ipv4/conf/eth0.100/forwarding', value: '1' },
  ];
  t.deepEqual(Object.fromEntries(parseSysctlConf(renderSysctlConf(entries))), { 'net.core.somaxconn': '65535', 'net/ipv4/conf/eth0.100/forwarding': '1' });
});

test('atomic write: the whole file appears at once, 0644, no temp file left; the directory is created', (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'etc/sysctl.d/90-volt.conf');
  writeFileAtomic(file, 'one\n');
  writeFileAtomic(file, 'two\n');
  t.is(fs.readFileSync(file, 'utf8'), 'two\n');
  t.is(fs.statSync(file).mode & 0o777, 0o644);
  t.deepEqual(fs.readdirSync(path.dirname(file)), ['90-volt.conf']);
});

test('atomic write: a failure leaves the old file and no temp file', (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, '90-volt.conf');
  writeFileAtomic(file, 'old\n');
  // Renaming a file over a non-empty directory fails: the target is a directory here.
  const blocked = path.join(dir, 'blocked.conf');
  fs.mkdirSync(path.join(blocked, 'x'), { recursive: true });
  t.throws(() => writeFileAtomic(blocked, 'new\n'), { message: /^write .*blocked\.conf: / });
  t.is(fs.readFileSync(file, 'utf8'), 'old\n');
  t.deepEqual(fs.readdirSync(dir).sort(), ['90-volt.conf', 'blocked.conf']);
});

test('syncSysctlConf writes entries, removes the file when there are none, and returns the previous text', (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'etc/sysctl.d/90-volt.conf');
  t.is(syncSysctlConf(file, [{ key: 'net.core.somaxconn', value: '65535' }]), undefined);
  const written = fs.readFileSync(file, 'utf8');
  t.regex(written, /^net\.core\.somaxconn = 65535$/m);
  t.is(syncSysctlConf(file, []), written);
  t.false(fs.existsSync(file));
  t.is(syncSysctlConf(file, []), undefined);
});

test('the record: render, parse back, stable key order', (t) => {
  const r: TuningRecord = emptyTuning();
  r.sysctls['net.ipv4.ip_forward'] = { value: '1', previous: '0', setAt: 'a', updatedAt: 'b' };
  r.sysctls['net.core.somaxconn'] = { value: '65535', setAt: 'a', updatedAt: 'a' };
  const text = renderTuning(r);
  t.true(text.indexOf('net.core.somaxconn') < text.indexOf('net.ipv4.ip_forward'));
  t.deepEqual(parseTuning(text, 'f'), r);
  t.deepEqual(parseTuning(renderTuning(emptyTuning()), 'f'), emptyTuning());
});

test('a missing record is empty; a corrupt or newer one is a clear error', (t) => {
  const dir = tmpdir(t);
  t.deepEqual(loadTuning(path.join(dir, 'none.json')), emptyTuning());
  const cases: [string, RegExp][] = [
    ['{', /not valid JSON/],
    ['[]', /missing schemaVersion/],
    ['{"schemaVersion":1}', /missing sysctls/],
    ['{"schemaVersion":1,"sysctls":{"net.x":{"value":1}}}', /bad entry "net\.x"/],
    ['{"schemaVersion":1,"sysctls":{"net.x":{"value":"1\\nkernel.panic = 1"}}}', /bad entry/],
    ['{"schemaVersion":9,"sysctls":{}}', /schema version 9 is newer/],
  ];
  for (const [text, re] of cases) {
    const e = t.throws(() => parseTuning(text, '/x/tuning.json'), undefined, text);
    t.regex(e!.message, /^read \/x\/tuning\.json: /);
    t.regex(e!.message, re, text);
  }
});
