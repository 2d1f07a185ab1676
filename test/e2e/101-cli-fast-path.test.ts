import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxHost } from '../harness';

// `volt net list` and `volt --version` are answered without oclif when that gives the same
// result (core/src/cli/fast-path.ts). Each case runs both ways and compares everything the
// caller sees; VOLT_FAST_PATH_DEBUG=1 says which path answered.
const OFF = { VOLT_FAST_PATH: 'off' };
const DEBUG = { VOLT_FAST_PATH_DEBUG: '1' };

test('net list and --version: the fast path prints what oclif prints, and steps aside when it cannot', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  // A private oclif data dir, so the machine's own user plugins do not decide the test.
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'vt-fast-'));
  t.teardown(() => fs.rmSync(data, { recursive: true, force: true }));
  const base = { VOLT_DATA_DIR: path.join(data, 'data') };

  const none = await host.volt(['net', 'list'], { env: { ...base, ...DEBUG } });
  t.is(none.code, 0, none.stderr);
  t.is(none.stdout, '(none)\n');
  t.is((await host.volt(['net', 'list'], { env: { ...base, ...OFF } })).stdout, '(none)\n');

  await host.voltOk(['net', 'create', '--name', 'front', '--subnet', '10.61.0.0/24']);
  await host.voltOk(['net', 'create', '--name', 'back', '--subnet', '10.62.0.0/24', '--no-nat']);
  for (const args of [['net', 'list'], ['net', 'list', '-o', 'json'], ['net', 'list', '--output=yaml', '--debug'], ['--version']]) {
    const fast = await host.volt(args, { env: { ...base, ...DEBUG } });
    const slow = await host.volt(args, { env: { ...base, ...OFF } });
    t.is(fast.code, 0, fast.stderr);
    t.is(fast.stdout, slow.stdout, args.join(' '));
    t.regex(fast.stderr, /^fast path: used$/m, args.join(' '));
    t.is(fast.stderr.replace(/^fast path: used\n/m, ''), slow.stderr, args.join(' '));
  }
  t.regex((await host.voltOk(['net', 'list'])).stdout, /^front\s+volt-front\s+10\.61\.0\.0\/24\s+10\.61\.0\.1\s+yes\s.*\sup$/m);

  // A bad option value is oclif's to report.
  const bad = await host.volt(['net', 'list', '-o', 'xml'], { env: { ...base, ...DEBUG } });
  t.is(bad.code, 2);
  t.regex(bad.stderr, /fast path: not used: arguments/);
  t.regex(bad.stderr, /Expected --output=xml to be one of: table, json, yaml/);

  // A user-installed or linked plugin could replace a driver or the command: oclif answers.
  fs.mkdirSync(base.VOLT_DATA_DIR, { recursive: true });
  fs.writeFileSync(path.join(base.VOLT_DATA_DIR, 'package.json'), JSON.stringify({ oclif: { plugins: [{ type: 'link', name: 'x', root: '/nonexistent' }] } }));
  const linked = await host.volt(['net', 'list'], { env: { ...base, ...DEBUG } });
  t.regex(linked.stderr, /fast path: not used: user-installed or linked plugins/);
  t.regex(linked.stdout, /^front\s/m);
  fs.rmSync(path.join(base.VOLT_DATA_DIR, 'package.json'));

  // An error (here a corrupt state file) is reported by oclif exactly as before, once.
  fs.writeFileSync(path.join(host.root, 'var/lib/volt/state.json'), '{ not json');
  const fast = await host.volt(['net', 'list'], { env: { ...base, ...DEBUG } });
  const slow = await host.volt(['net', 'list'], { env: { ...base, ...OFF } });
  t.regex(fast.stderr, /fast path: not used: .*not valid JSON/);
  t.is(fast.code, slow.code);
  t.not(slow.code, 0);
  t.is(fast.stdout, '');
  t.is(fast.stderr.replace(/^fast path: used\n/m, '').replace(/^fast path: not used: [^\n]*\n(\s+at [^\n]*\n)*/m, ''), slow.stderr);
});
