import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  cacheFileFor,
  codeCacheDir,
  formatCacheFile,
  parseCacheFile,
  requireWithCodeCache,
  type CodeCacheEvent,
} from '@volt/core/dist/cli/code-cache';

function tmp(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-cc-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Load `file` in a child process (a fresh require cache) and return what the cache reported. */
function loadInChild(file: string, cacheDir: string, variant = 'x'): { events: CodeCacheEvent[]; value: unknown } {
  const loader = require.resolve('@volt/core/dist/cli/code-cache');
  const script = `
    const events = [];
    const m = require(${JSON.stringify(loader)}).requireWithCodeCache(${JSON.stringify(file)}, {
      env: { VOLT_CODE_CACHE_DIR: ${JSON.stringify(cacheDir)} }, variant: ${JSON.stringify(variant)},
      report: (e) => events.push(e),
    });
    process.on('exit', () => process.stdout.write(JSON.stringify({ events, value: m.value })));
  `;
  const out = require('node:child_process').execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }) as string;
  return JSON.parse(out) as { events: CodeCacheEvent[]; value: unknown };
}

const kinds = (events: CodeCacheEvent[]): string[] => events.map((e) => e.kind);

test('where the cache lives: override, XDG, HOME, tmpdir; off switch', (t) => {
  t.is(codeCacheDir({ VOLT_CODE_CACHE_DIR: '/x/y' }), '/x/y');
  t.is(codeCacheDir({ XDG_CACHE_HOME: '/xdg', HOME: '/home/u' }), '/xdg/volt/code-cache');
  t.is(codeCacheDir({ HOME: '/home/u' }), '/home/u/.cache/volt/code-cache');
  t.true(codeCacheDir({})!.startsWith(os.tmpdir()));
  for (const off of ['off', '0', 'false', 'no', 'OFF']) t.is(codeCacheDir({ VOLT_CODE_CACHE: off, VOLT_CODE_CACHE_DIR: '/x' }), undefined);
});

test('miss, write, then hit; a changed source is never served from the old cache', (t) => {
  const dir = tmp(t);
  const cache = path.join(dir, 'cache');
  const file = path.join(dir, 'mod.js');
  fs.writeFileSync(file, 'exports.value = "one";');
  const first = loadInChild(file, cache);
  t.deepEqual(kinds(first.events), ['miss', 'written']);
  t.is(first.value, 'one');
  t.deepEqual(fs.readdirSync(cache), [path.basename(cacheFileFor(cache, fs.realpathSync(file)))], 'one file, no temporary left');
  t.is(fs.statSync(cache).mode & 0o777, 0o700);

  const second = loadInChild(file, cache);
  t.deepEqual(kinds(second.events), ['hit']);
  t.is(second.value, 'one');

  // Same length, different content: V8's own check would not see it; ours does.
  fs.writeFileSync(file, 'exports.value = "two";');
  const third = loadInChild(file, cache);
  t.deepEqual(kinds(third.events), ['miss', 'written']);
  t.is((third.events[0] as { why: string }).why, 'source changed');
  t.is(third.value, 'two');
});

test('a new kind of call refreshes the cache once', (t) => {
  const dir = tmp(t);
  const cache = path.join(dir, 'cache');
  const file = path.join(dir, 'mod.js');
  fs.writeFileSync(file, 'exports.value = 1;');
  t.deepEqual(kinds(loadInChild(file, cache, 'net list').events), ['miss', 'written']);
  t.deepEqual(kinds(loadInChild(file, cache, 'net list').events), ['hit']);
  t.deepEqual(kinds(loadInChild(file, cache, 'driver list').events), ['hit', 'written']);
  t.deepEqual(kinds(loadInChild(file, cache, 'driver list').events), ['hit']);
  t.deepEqual(kinds(loadInChild(file, cache, 'net list').events), ['hit']);
});

test('a corrupt or foreign cache file is a miss, never an error', (t) => {
  const dir = tmp(t);
  const cache = path.join(dir, 'cache');
  const file = path.join(dir, 'mod.js');
  fs.writeFileSync(file, 'exports.value = 3;');
  loadInChild(file, cache);
  const cf = cacheFileFor(cache, fs.realpathSync(file));
  for (const garbage of [Buffer.alloc(0), Buffer.from('VOLTV8C3'), fs.readFileSync(cf).subarray(0, 40), Buffer.from('not a cache at all')]) {
    fs.writeFileSync(cf, garbage);
    const r = loadInChild(file, cache);
    t.is(r.value, 3);
    t.deepEqual(kinds(r.events), ['miss', 'written']);
  }
  // Valid layout, right source, but V8 data that is garbage: V8 rejects it, we rewrite it.
  const source = fs.readFileSync(file);
  const runtime = JSON.stringify([process.version, process.versions.v8, process.arch, fs.realpathSync(file)]);
  fs.writeFileSync(cf, formatCacheFile({ runtime, variants: ['x'], source, data: Buffer.from('garbage garbage garbage') }));
  const r = loadInChild(file, cache);
  t.is(r.value, 3);
  t.deepEqual(kinds(r.events), ['miss', 'written']);
  t.is((r.events[0] as { why: string }).why, 'rejected by V8');
});

test('parseCacheFile wants the same runtime and the same bytes', (t) => {
  const source = Buffer.from('exports.a = 1;');
  const buf = formatCacheFile({ runtime: 'r1', variants: ['a'], source, data: Buffer.from([1, 2, 3]) });
  t.deepEqual(parseCacheFile(buf, 'r1', source), { data: Buffer.from([1, 2, 3]), variants: ['a'], why: '' });
  t.is(parseCacheFile(buf, 'r2', source).data, undefined);
  t.is(parseCacheFile(buf, 'r1', Buffer.from('exports.a = 2;')).data, undefined);
});

test('a directory others can write to is not used', (t) => {
  const dir = tmp(t);
  const cache = path.join(dir, 'cache');
  fs.mkdirSync(cache, { mode: 0o777 });
  fs.chmodSync(cache, 0o777);
  const file = path.join(dir, 'mod.js');
  fs.writeFileSync(file, 'exports.value = 4;');
  const r = loadInChild(file, cache);
  t.is(r.value, 4);
  t.deepEqual(kinds(r.events), ['miss', 'error']);
  t.deepEqual(fs.readdirSync(cache), []);
});

test('the module is registered in require.cache, so require() returns the same instance', (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'mod.js');
  fs.writeFileSync(file, 'exports.loads = (global.__voltCcLoads = (global.__voltCcLoads || 0) + 1); exports.dir = __dirname;');
  const m = requireWithCodeCache(file, { env: { VOLT_CODE_CACHE: 'off' } }) as { loads: number; dir: string };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  t.is(require(file), m);
  t.is(m.loads, 1);
  t.is(m.dir, fs.realpathSync(dir));
});

test('import() inside cached code works in a later process (through the caller-provided import)', (t) => {
  const dir = tmp(t);
  const cache = path.join(dir, 'cache');
  const file = path.join(dir, 'mod.js');
  const esm = path.join(dir, 'esm.mjs');
  fs.writeFileSync(esm, 'export const answer = 42;');
  fs.writeFileSync(
    file,
    'exports.load = async (url) => (await (typeof __voltImportHost === "function" ? __voltImportHost(url) : import(url))).answer;',
  );
  const loader = require.resolve('@volt/core/dist/cli/code-cache');
  const script = `
    const events = [];
    const m = require(${JSON.stringify(loader)}).requireWithCodeCache(${JSON.stringify(file)}, {
      env: { VOLT_CODE_CACHE_DIR: ${JSON.stringify(cache)} }, variant: 'x',
      dynamicImport: (s) => import(s), report: (e) => events.push(e),
    });
    m.load(${JSON.stringify(require('node:url').pathToFileURL(esm).href)}).then((v) => process.stdout.write(JSON.stringify({ v, events })));
  `;
  const once = (): { v: number; events: CodeCacheEvent[] } =>
    JSON.parse(require('node:child_process').execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }) as string);
  const first = once();
  t.is(first.v, 42);
  const second = once();
  t.deepEqual(kinds(second.events), ['hit']);
  t.is(second.v, 42);
});
