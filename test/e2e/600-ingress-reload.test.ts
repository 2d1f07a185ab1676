import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost, sleep } from '../harness';
import { echo, eventually, parseWrk, request, requestInBackground, startBackend, startProxy, status, workload } from '../fixtures/ingress/ingress-helpers';

test('hot reload under load: wrk for 20 s, a reload and a route change every second, zero failed requests', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  const api = await workload(host, 'backend', 'api');
  await startBackend(web.c, 8080, 'web');
  await startBackend(api.c, 3000, 'api');
  await host.voltOk(['ingress', 'create', '--name', 'app', '--hostname', 'app.example.com', '--backend', `${web.name}:8080`]);
  await host.voltOk(['ingress', 'create', '--name', 'api', '--hostname', 'app.example.com', '--path', '/v1', '--backend', `${api.name}:3000`]);
  const proxy = await startProxy(host);
  const before = (await status(host)).proxy.generation ?? 0;

  // Two paths under load, so both routes' backends carry traffic through every table swap. Each
  // connection pauses 5 ms between requests: continuous load that leaves the two CPUs room to
  // run the volt commands of the test itself.
  const script = [
    'local n = 0',
    "request = function() n = n + 1; if n % 2 == 0 then return wrk.format(nil, '/v1/x') end return wrk.format(nil, '/') end",
    'delay = function() return 5 end',
  ].join('\n');
  const lua = path.join(host.workDir, 'paths.lua');
  fs.writeFileSync(lua, script + '\n');
  const wrk = host.spawn('wrk', ['-t2', '-c8', '-d20s', '--latency', '-s', lua, '-H', 'Host: app.example.com', 'http://127.0.0.1/']);

  // One lane fires `volt ingress reload` every second on the clock (not waiting for the previous one);
  // the other changes routes (create / delete of another hostname) one after the other.
  const reloads: Promise<{ code: number; stderr: string }>[] = [];
  const ticker = setInterval(() => {
    if (wrk.running) reloads.push(host.volt(['ingress', 'reload']));
  }, 1000);
  let changes = 0;
  const failedChanges: string[] = [];
  while (wrk.running) {
    const name = `extra${Math.floor(changes / 2)}`;
    const r =
      changes % 2 === 0
        ? await host.volt(['ingress', 'create', '--name', name, '--hostname', `${name}.example.com`, '--backend', `${api.name}:3000`])
        : await host.volt(['ingress', 'delete', '--name', name]);
    if (r.code !== 0) failedChanges.push(r.stderr);
    changes++;
    await sleep(1000);
  }
  clearInterval(ticker);
  const reloadResults = await Promise.all(reloads);
  const out = parseWrk((await wrk.exited).stdout);
  t.log(`${out.requests} requests, ${out.rps} req/s, p99 ${out.p99 ?? '?'}; ${reloads.length} reloads, ${changes} route changes`);
  t.true(out.requests > 0, out.raw);
  t.is(out.socketErrors, undefined, `socket errors: ${out.raw}`);
  t.is(out.non2xx, undefined, `failed responses: ${out.raw}`);
  t.true(reloads.length >= 18, `reloads: ${reloads.length}`);
  t.deepEqual(reloadResults.filter((r) => r.code !== 0).map((r) => r.stderr), [], 'every reload succeeded');
  t.deepEqual(failedChanges, [], 'every route change succeeded');
  t.true(changes >= 1, `route changes: ${changes}`);
  const after = (await status(host)).proxy.generation ?? 0;
  t.true(after - before >= changes, 'every route change produced a new table');
  t.true(proxy.running);
});

/**
 * Two keep-alive connections through the proxy: one idle after a first request, one waiting on
 * a slow response. After "go" on stdin it reports how each ended, then asks `path` on a fresh
 * connection. Prints FIRST, READY, IDLE CLOSED fin|reset, BUSY <backend> <connection header>,
 * BUSY CLOSED, FRESH <backend>.
 */
const KEEPALIVE_PROBE = `
const net = require('net');
const [slowPath, freshPath] = process.argv.slice(1);
const conn = () => {
  const s = net.connect({ host: '127.0.0.1', port: 80 });
  s.setEncoding('latin1');
  s.on('error', (e) => console.log('ERROR ' + e.code));
  return s;
};
const ask = (s, path) => new Promise((resolve) => {
  let data = '';
  const on = (d) => {
    data += d;
    const i = data.indexOf('\\r\\n\\r\\n');
    if (i < 0) return;
    const head = data.slice(0, i);
    let body = data.slice(i + 4);
    const len = /\\r\\ncontent-length: *(\\d+)/i.exec(head);
    if (len) {
      if (body.length < Number(len[1])) return;
    } else {
      // chunked (small bodies: size, data, then the last chunk)
      if (!body.endsWith('\\r\\n0\\r\\n\\r\\n')) return;
      body = body.slice(body.indexOf('\\r\\n') + 2, body.length - 7);
    }
    s.off('data', on);
    const conn = /\\r\\nconnection: *([^\\r]*)/i.exec(head);
    resolve({ backend: JSON.parse(body).backend, connection: conn ? conn[1].toLowerCase() : 'none' });
  };
  s.on('data', on);
  s.write('GET ' + path + ' HTTP/1.1\\r\\nHost: app.example.com\\r\\n\\r\\n');
});
(async () => {
  const idle = conn();
  const busy = conn();
  console.log('FIRST ' + (await ask(idle, '/')).backend);
  idle.on('close', (hadError) => console.log('IDLE CLOSED ' + (hadError ? 'reset' : 'fin')));
  busy.on('close', () => console.log('BUSY CLOSED'));
  const slow = ask(busy, slowPath);
  console.log('READY');
  await new Promise((r) => process.stdin.once('data', r));
  const r = await slow;
  console.log('BUSY ' + r.backend + ' ' + r.connection);
  console.log('FRESH ' + (await ask(conn(), freshPath)).backend);
  process.exit(0);
})();
`;

test('keep-alive connections are retired on reload: an idle one is closed (FIN), a busy one finishes on its old route with Connection: close; the next request takes a fresh connection and the new table', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const a = await workload(host, 'backend', 'a');
  const b = await workload(host, 'backend', 'b');
  const backendA = await startBackend(a.c, 8080, 'a', undefined, { log: true });
  await startBackend(b.c, 8080, 'b');
  await host.voltOk(['ingress', 'create', '--name', 'app', '--hostname', 'app.example.com', '--backend', `${a.name}:8080`]);
  // A long idle timeout: only the reload may close the idle connection.
  await startProxy(host, { workers: 1, args: ['--idle-timeout', '120'] });

  // The slow request must still be in flight when the new table arrives, even on a loaded machine.
  const probe = host.spawn(process.execPath, ['-e', KEEPALIVE_PROBE, '/slow?ms=20000', '/v2/x']);
  await probe.waitForOutput(/^READY$/m, { timeoutMs: 15_000 });
  t.regex(probe.stdout, /^FIRST a$/m);
  await backendA.waitForOutput(/^REQ GET \/slow\?ms=20000$/m, { timeoutMs: 15_000 });
  // A route change is a new table (like `volt ingress reload`).
  await host.voltOk(['ingress', 'create', '--name', 'v2', '--hostname', 'app.example.com', '--path', '/v2', '--backend', `${b.name}:8080`]);
  const closed = await probe.waitForOutput(/^IDLE CLOSED (\w+)$/m, { timeoutMs: 15_000 });
  t.is(closed[1], 'fin', 'the idle connection was closed gracefully, not reset');
  probe.write('go\n');
  const busy = await probe.waitForOutput(/^BUSY (\w+) (\S+)$/m, { timeoutMs: 40_000 });
  t.is(busy[1], 'a', 'the request in flight finished on its old route');
  t.is(busy[2], 'close', 'its response closed the connection (the graceful way for a busy one)');
  await probe.waitForOutput(/^BUSY CLOSED$/m, { timeoutMs: 15_000 });
  const fresh = await probe.waitForOutput(/^FRESH (\w+)$/m, { timeoutMs: 15_000 });
  t.is(fresh[1], 'b', 'a fresh connection routes by the new table');
  t.false(/^ERROR/m.test(probe.stdout), probe.stdout);
});

test('in-flight requests finish on their old route; new requests take the new one; SIGTERM drains before stopping', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const a = await workload(host, 'backend', 'a');
  const b = await workload(host, 'backend', 'b');
  const backendA = await startBackend(a.c, 8080, 'a', undefined, { log: true });
  const backendB = await startBackend(b.c, 8080, 'b', undefined, { log: true });
  await host.voltOk(['ingress', 'create', '--name', 'app', '--hostname', 'app.example.com', '--backend', `${a.name}:8080`]);
  const proxy = await startProxy(host);

  const inflight = requestInBackground(host, { url: 'http://127.0.0.1/slow?ms=3000', host: 'app.example.com' });
  await backendA.waitForOutput(/^REQ GET \/slow\?ms=3000$/m);
  await host.voltOk(['ingress', 'delete', '--name', 'app']);
  await host.voltOk(['ingress', 'create', '--name', 'app', '--hostname', 'app.example.com', '--backend', `${b.name}:8080`]);
  t.is(echo(t, await request(host, { url: 'http://127.0.0.1/now', host: 'app.example.com' })).backend, 'b', 'new requests use the new table');
  const old = await inflight.result;
  t.is(old.status, 200);
  t.is(echo(t, old).backend, 'a', 'the request in flight finished where it started');

  const draining = requestInBackground(host, { url: 'http://127.0.0.1/slow?ms=2000', host: 'app.example.com' });
  await backendB.waitForOutput(/^REQ GET \/slow\?ms=2000$/m);
  const stopped = await proxy.stop('SIGTERM', 30_000);
  t.is(stopped.code, 0, stopped.stderr);
  t.regex(stopped.stdout, /^volt ingress: stopped$/m);
  t.regex(stopped.stderr, /stopping \(SIGTERM\): draining connections/);
  const drained = await draining.result;
  t.is(drained.status, 200, 'the request in flight when SIGTERM came was answered');
  t.is(echo(t, drained).backend, 'b');
  const gone = await host.volt(['ingress', 'status']);
  t.regex(gone.stdout, /^proxy: not running/m, 'control socket and info file are gone');
});

test('a worker that dies is replaced and serves the current table; SIGHUP reloads like `volt ingress reload`', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  await startBackend(web.c, 8080, 'web');
  await host.voltOk(['ingress', 'create', '--name', 'app', '--hostname', 'app.example.com', '--backend', `${web.name}:8080`]);
  const proxy = await startProxy(host, { workers: 2 });
  const first = await status(host);
  const victim = first.proxy.workers[0]!.pid;
  process.kill(victim, 'SIGKILL');
  const replaced = await eventually('a replacement worker', async () => {
    const s = await status(host);
    return s.proxy.workers.length === 2 && !s.proxy.workers.some((w) => w.pid === victim) ? s : undefined;
  });
  t.regex(proxy.stderr, new RegExp(`worker ${victim} exited \\(SIGKILL\\); starting another in 0\\.5 s`));
  // Every request lands on a worker that has the table (the new one included: it got it before accepting).
  const results = await Promise.all(Array.from({ length: 12 }, () => request(host, { url: 'http://127.0.0.1/', host: 'app.example.com' })));
  t.deepEqual(results.map((r) => r.status), Array(12).fill(200));
  const newPid = replaced.proxy.workers.find((w) => w.pid !== first.proxy.workers[1]!.pid)!.pid;
  t.not(newPid, victim);

  const before = replaced.proxy.generation ?? 0;
  process.kill(proxy.pid, 'SIGHUP');
  await eventually('SIGHUP to apply the table again', async () => ((await status(host)).proxy.generation ?? 0) > before);
  t.regex(proxy.stderr, /applied 1 route \(generation \d+, SIGHUP, unchanged\)/);

  // One proxy per host: a second serve is refused, whatever its ports.
  const second = await host.volt(['ingress', 'serve', '--http-port', '8080', '--https-port', '8443', '--workers', '1']);
  t.is(second.code, 4);
  t.regex(second.stderr, new RegExp(`start the ingress proxy: another one is running \\(pid ${proxy.pid}\\)`));
  t.true(proxy.running);
});

// Two keep-alive connections on Node's path: OLD from before a reload, NEW from after it. Each line on
// stdin names a step; each answer is a line on stdout.
const RETIRE_PROBE = `
const net = require('net');
const conns = {};
const open = (name) => {
  const s = net.connect({ host: '127.0.0.1', port: 80 });
  s.setEncoding('latin1');
  const c = { s, buf: '', closed: false, waiting: undefined };
  s.on('data', (d) => { c.buf += d; check(c, name); });
  s.on('close', () => { c.closed = true; console.log(name + ' CLOSED'); });
  s.on('error', () => undefined);
  conns[name] = c;
};
const check = (c, name) => {
  const end = c.buf.indexOf('\\r\\n\\r\\n');
  if (end < 0 || !c.waiting) return;
  const len = Number((/content-length: *(\\d+)/i.exec(c.buf.slice(0, end)) || [0, 0])[1]);
  if (c.buf.length < end + 4 + len) return;
  const status = c.buf.slice(9, 12);
  c.buf = c.buf.slice(end + 4 + len);
  c.waiting = undefined;
  console.log(name + ' ' + status);
};
const ask = (name) => {
  const c = conns[name];
  if (c.closed) return console.log(name + ' WAS CLOSED');
  c.waiting = true;
  c.s.write('GET /x HTTP/1.1\\r\\nHost: app.example.com\\r\\n\\r\\n');
};
require('readline').createInterface({ input: process.stdin }).on('line', (l) => {
  const [verb, name] = l.split(' ');
  if (verb === 'open') { open(name); ask(name); }
  else if (verb === 'ask') ask(name);
});
console.log('READY');
`;

test("Node's path: a reload retires the keep-alive connections from before it, not those that joined after it", async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const a = await workload(host, 'backend', 'a');
  await startBackend(a.c, 8080, 'a');
  await host.voltOk(['ingress', 'create', '--name', 'app', '--hostname', 'app.example.com', '--backend', `${a.name}:8080`]);
  // A long idle timeout: only the reload may close an idle connection.
  await startProxy(host, { workers: 1, args: ['--idle-timeout', '120'], env: { VOLT_INGRESS_FAST_PATH: '0' } });
  const probe = host.spawn(process.execPath, ['-e', RETIRE_PROBE]);
  await probe.waitForOutput(/^READY$/m, { timeoutMs: 15_000 });
  probe.write('open OLD\n');
  await probe.waitForOutput(/^OLD 200$/m, { timeoutMs: 15_000 });
  // A route change is a new table (applied by the proxy before create returns); NEW connects right after it
  // and is idle when the retirement sweep runs, 1 s after the reload.
  await host.voltOk(['ingress', 'create', '--name', 'v2', '--hostname', 'app.example.com', '--path', '/v2', '--backend', `${a.name}:8080`]);
  probe.write('open NEW\n');
  await probe.waitForOutput(/^NEW 200$/m, { timeoutMs: 15_000 });
  await probe.waitForOutput(/^OLD CLOSED$/m, { timeoutMs: 15_000 });
  // Past the retirement sweep (1 s after the reload, every tick): NEW is still open and serves.
  await sleep(2500);
  probe.write('ask NEW\n');
  const second = await probe.waitForOutput(/^NEW (200|WAS CLOSED|CLOSED)$/m, { timeoutMs: 15_000 });
  t.is(second[1], '200', `the connection from after the reload kept serving\n${probe.stdout}`);
  t.false(/^NEW CLOSED$/m.test(probe.stdout), probe.stdout);
});
