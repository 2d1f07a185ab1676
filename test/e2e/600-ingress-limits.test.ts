import test from 'ava';
import { SandboxHost } from '../harness';
import { echo, eventually, rawRequest, request, startBackend, startProxy, status, workload } from '../fixtures/ingress/ingress-helpers';

/** Opens `hold` idle connections, then one more; reports what happened to the extra one, then frees them and tries again. */
const CAP_PROBE = `
const net = require('net');
const [port, hold] = [Number(process.argv[1]), Number(process.argv[2])];
const open = () => new Promise((resolve) => {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', () => {});
  s.once('connect', () => resolve(s));
});
const ask = (s) => new Promise((resolve) => {
  let data = '';
  s.on('data', (d) => { data += d; if (data.includes('\\r\\n\\r\\n')) resolve(data.split('\\r\\n')[0]); });
  s.once('close', () => resolve(data === '' ? 'CLOSED' : data.split('\\r\\n')[0]));
  s.write('GET / HTTP/1.1\\r\\nHost: app.example.com\\r\\n\\r\\n');
});
(async () => {
  const held = [];
  for (let i = 0; i < hold; i++) held.push(await open());
  const firstHeld = await ask(held[0]);
  const extra = await ask(await open());
  for (const s of held) s.destroy();
  await new Promise((r) => setTimeout(r, 1000));
  const again = await ask(await open());
  console.log(JSON.stringify({ firstHeld, extra, again }));
  process.exit(0);
})();
`;

test('limits: slow clients are cut off, oversized and overlong headers refused, a connection cap, no open proxying', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  await startBackend(web.c, 8080, 'web');
  await host.voltOk(['ingress', 'create', '--name', 'app', '--hostname', 'app.example.com', '--backend', `${web.name}:8080`]);
  await startProxy(host, {
    workers: 1,
    args: ['--header-timeout', '1', '--max-connections', '4', '--max-headers', '20', '--max-header-size', '4096', '--idle-timeout', '30'],
  });

  // Slowloris: headers trickle in one line every 400 ms; the proxy answers 408 and closes long before the 20th line.
  const lines = ['GET / HTTP/1.1\r\n', 'Host: app.example.com\r\n', ...Array.from({ length: 20 }, (_, i) => `X-Slow-${i}: ${i}\r\n`), '\r\n'];
  const slow = await rawRequest(host, { host: '127.0.0.1', port: 80, chunks: lines, delayMs: 400 });
  t.true(slow.closed, 'the proxy closed the connection');
  t.regex(slow.data, /^HTTP\/1\.1 408 Request Timeout/);
  t.false(slow.data.includes('"backend"'), 'nothing reached the backend');
  // Slow on the TLS port too: a client that never finishes its ClientHello is dropped.
  const silentTls = await rawRequest(host, { host: '127.0.0.1', port: 443, chunks: ['\x16\x03\x01'] });
  t.true(silentTls.closed);

  const big = await request(host, { url: 'http://127.0.0.1/', host: 'app.example.com', headers: { 'x-big': 'a'.repeat(5000) } });
  t.is(big.status, 431, 'headers over --max-header-size');
  const many: Record<string, string> = {};
  for (let i = 0; i < 25; i++) many[`x-h${i}`] = String(i);
  const count = await request(host, { url: 'http://127.0.0.1/', host: 'app.example.com', headers: many });
  t.is(count.status, 431, 'more header fields than --max-headers');
  t.regex(count.body ?? '', /more than 20 header fields/);
  t.is((await request(host, { url: 'http://127.0.0.1/', host: 'app.example.com', headers: { 'x-ok': '1' } })).status, 200);

  // No open proxying: only configured hostnames are ever forwarded, whatever the request line says.
  const absolute = await rawRequest(host, { host: '127.0.0.1', port: 80, chunks: ['GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n'] });
  t.regex(absolute.data, /^HTTP\/1\.1 404 Not Found/);
  t.regex(absolute.data, /no route for example\.org\//);
  const smuggled = await rawRequest(host, { host: '127.0.0.1', port: 80, chunks: ['GET http://example.org/ HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n'] });
  t.regex(smuggled.data, /^HTTP\/1\.1 404 Not Found/, 'the absolute URL’s host wins over Host, so this is not app.example.com');
  const connect = await rawRequest(host, { host: '127.0.0.1', port: 80, chunks: ['CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n'] });
  t.regex(connect.data, /^HTTP\/1\.1 405 Method Not Allowed/);
  const ours = await rawRequest(host, { host: '127.0.0.1', port: 80, chunks: ['GET http://app.example.com/x HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n'] });
  t.regex(ours.data, /^HTTP\/1\.1 200 OK/);
  t.regex(ours.data, /"url":"\/x"/);

  // The connection cap (one worker: all 4 slots are its own).
  const probe = await host.exec(process.execPath, ['-e', CAP_PROBE, '80', '4'], { timeoutMs: 30_000 });
  t.is(probe.code, 0, probe.stderr);
  const cap = JSON.parse(probe.stdout) as { firstHeld: string; extra: string; again: string };
  t.is(cap.firstHeld, 'HTTP/1.1 200 OK', 'connections within the cap are served');
  t.is(cap.extra, 'CLOSED', 'the fifth concurrent connection is closed at once');
  t.is(cap.again, 'HTTP/1.1 200 OK', 'slots are free again once clients leave');
  t.is(echo(t, await request(host, { url: 'http://127.0.0.1/', host: 'app.example.com' })).backend, 'web');
});

/**
 * Holds `hold` keep-alive connections (each served once), then tries one more; on a line on stdin,
 * closes the first held one; on the next, opens a fresh connection and asks once more.
 */
const GLOBAL_CAP_PROBE = `
const net = require('net');
const readline = require('readline');
const [port, hold] = [Number(process.argv[1]), Number(process.argv[2])];
const open = () => new Promise((resolve) => {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', () => {});
  s.once('connect', () => resolve(s));
});
const ask = (s) => new Promise((resolve) => {
  let data = '';
  const onData = (d) => { data += d; if (data.includes('\\r\\n\\r\\n')) { s.off('data', onData); s.off('close', onClose); resolve(data.split('\\r\\n')[0]); } };
  const onClose = () => resolve(data === '' ? 'CLOSED' : data.split('\\r\\n')[0]);
  s.on('data', onData);
  s.once('close', onClose);
  s.write('GET / HTTP/1.1\\r\\nHost: app.example.com\\r\\n\\r\\n');
});
(async () => {
  const held = [];
  const answers = [];
  for (let i = 0; i < hold; i++) { const s = await open(); held.push(s); answers.push(await ask(s)); }
  console.log('HELD ' + JSON.stringify(answers));
  console.log('EXTRA ' + (await ask(await open())));
  const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  await lines.next();
  held[0].destroy();
  console.log('RELEASED');
  await lines.next();
  console.log('AGAIN ' + (await ask(await open())));
  for (const s of held) s.destroy();
  process.exit(0);
})();
`;

test('the connection cap is global: with 2 workers, exactly --max-connections concurrent connections are served, the next is closed; a freed slot is usable again', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  await startBackend(web.c, 8080, 'web');
  await host.voltOk(['ingress', 'create', '--name', 'app', '--hostname', 'app.example.com', '--backend', `${web.name}:8080`]);
  // 3 over 2 workers: a per-worker split (2 + 2) would let a fourth in; the primary counts all of them.
  await startProxy(host, { workers: 2, args: ['--max-connections', '3', '--idle-timeout', '120', '--header-timeout', '60'] });
  const probe = host.spawn(process.execPath, ['-e', GLOBAL_CAP_PROBE, '80', '3']);
  const held = await probe.waitForOutput(/^HELD (.*)$/m, { timeoutMs: 20_000 });
  t.deepEqual(JSON.parse(held[1]!), ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK'], 'three concurrent connections are served');
  const extra = await probe.waitForOutput(/^EXTRA (.*)$/m, { timeoutMs: 20_000 });
  t.is(extra[1], 'CLOSED', 'the fourth is closed at once');
  const full = await status(host);
  t.is(full.proxy.activeConnections, 3);
  t.is(full.proxy.workers.length, 2);
  t.deepEqual(full.proxy.workers.map((w) => w.connections).sort(), [1, 2], 'spread over both workers, least connections first');
  t.regex((await host.voltOk(['ingress', 'status'])).stdout, /^connections: 3 active \(of at most 3\)/m);
  probe.write('release\n');
  await probe.waitForOutput(/^RELEASED$/m);
  // The worker reports the close; until the primary has counted it, the slot is still taken.
  await eventually('the closed connection to be counted out', async () => (await status(host)).proxy.activeConnections === 2);
  probe.write('again\n');
  const again = await probe.waitForOutput(/^AGAIN (.*)$/m, { timeoutMs: 20_000 });
  t.is(again[1], 'HTTP/1.1 200 OK', 'a freed slot takes a new connection');
  const done = await probe.exited;
  t.is(done.code, 0, done.stderr);
  await eventually('every connection to be counted out', async () => (await status(host)).proxy.activeConnections === 0);
});

test('bad flags are refused with clear errors and change nothing', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  const rows: [string[], number, RegExp][] = [
    [['--hostname', 'bad_host.example.com', '--backend', 'web:80'], 2, /create route "x": hostname "bad_host\.example\.com" has an invalid label "bad_host"/],
    [['--hostname', 'a..example.com', '--backend', 'web:80'], 2, /has an empty label/],
    [['--hostname', 'app.example.com', '--path', 'v1', '--backend', 'web:80'], 2, /path "v1" must start with "\/"\n {2}→ did you mean --path \/v1\?/],
    [['--hostname', 'app.example.com', '--backend', 'web'], 2, /backend "web" has no port\n {2}→ write WORKLOAD:PORT/],
    [['--hostname', 'app.example.com', '--backend', 'web:0'], 2, /port 0 is out of range \(1-65535\)/],
    [['--hostname', 'app.example.com', '--backend', 'web:65536'], 2, /port 65536 is out of range \(1-65535\)/],
    [['--hostname', 'app.example.com', '--backend', 'web:http'], 2, /port "http" is not a number/],
    [['--hostname', 'app.example.com', '--backend', 'web:80', '--timeout', 'soon'], 2, /timeout "soon" is not a number of seconds/],
    [['--hostname', 'app.example.com', '--backend', 'web:80', '--timeout', '0'], 2, /timeout 0 s is out of range/],
    [['--hostname', 'app.example.com', '--backend', 'web:80', '--tls', 'yes'], 2, /tls mode "yes" is not one of none, auto, manual, passthrough/],
    [['--hostname', 'app.example.com', '--backend', 'web:80', '--tls', 'manual'], 2, /--tls manual needs --cert FILE and --key FILE/],
    [['--hostname', 'app.example.com', '--backend', 'web:80', '--tls', 'manual', '--cert', '/nonexistent/app.pem', '--key', '/nonexistent/app.key'], 2, /cannot read --cert \/nonexistent\/app\.pem: no such file/],
    [['--hostname', 'app.example.com', '--backend', 'web:80', '--cert', '/x.pem'], 2, /--cert and --key go with --tls manual/],
    [['--hostname', 'app.example.com', '--backend', 'web:80', '--tls', 'passthrough', '--path', '/v1'], 2, /a passthrough route cannot have a path/],
    [['--hostname', 'app.example.com', '--backend', 'web:80', '--strip-path'], 2, /--strip-path needs a --path to strip/],
    [['--hostname', '*.example.com', '--backend', 'web:80', '--tls', 'auto'], 2, /--tls auto cannot get a certificate for the wildcard/],
  ];
  for (const [args, code, re] of rows) {
    const r = await host.volt(['ingress', 'create', '--name', 'x', ...args]);
    t.is(r.code, code, `${args.join(' ')}\n${r.stderr}`);
    t.regex(r.stderr, re, args.join(' '));
    t.regex(r.stderr, /^Error: /, 'one error line, no stack trace');
  }
  t.deepEqual(await host.voltJson(['ingress', 'list', '-o', 'json']), [], 'bad input stored nothing');

  await host.voltOk(['ingress', 'create', '--name', 'web', '--hostname', 'app.example.com', '--backend', '10.0.0.5:80']);
  const dup = await host.volt(['ingress', 'create', '--name', 'web', '--hostname', 'other.example.com', '--backend', '10.0.0.5:80']);
  t.is(dup.code, 4);
  t.regex(dup.stderr, /create route "web": a route with this name exists \(app\.example\.com → 10\.0\.0\.5:80\)/);
  const same = await host.volt(['ingress', 'create', '--name', 'web2', '--hostname', 'app.example.com', '--backend', '10.0.0.6:80']);
  t.is(same.code, 4);
  t.regex(same.stderr, /route "web" already serves app\.example\.com/);
  const tlsMix = await host.volt(['ingress', 'create', '--name', 'web3', '--hostname', 'app.example.com', '--path', '/x', '--backend', '10.0.0.6:80', '--tls', 'auto']);
  t.is(tlsMix.code, 4);
  t.regex(tlsMix.stderr, /app\.example\.com already uses --tls none \(route "web"\); all routes of one hostname share its TLS mode/);
  const del = await host.volt(['ingress', 'delete', '--name', 'nope']);
  t.is(del.code, 3);
  t.regex(del.stderr, /delete route "nope": no route with this name\n {2}→ known routes: web/);
  const reload = await host.volt(['ingress', 'reload']);
  t.is(reload.code, 3);
  t.regex(reload.stderr, /reload the ingress proxy: it is not running/);
  const st = await host.voltOk(['ingress', 'status']);
  t.regex(st.stdout, /^proxy: not running/m);

  // serve: bad flags, and a port that is taken.
  const badPort = await host.volt(['ingress', 'serve', '--http-port', '70000']);
  t.is(badPort.code, 2);
  t.regex(badPort.stderr, /start the ingress proxy: --http-port 70000 is out of range \(1-65535\)/);
  const squatter = host.spawn(process.execPath, ['-e', "require('net').createServer().listen(8081, () => console.log('UP'))"]);
  await squatter.waitForOutput(/UP/);
  const taken = await host.volt(['ingress', 'serve', '--http-port', '8081', '--https-port', '8443', '--workers', '1']);
  t.is(taken.code, 5);
  t.regex(taken.stderr, /start the ingress proxy: listen on 0\.0\.0\.0:8081: address already in use \(EADDRINUSE\)/);
  t.regex(taken.stderr, /→ pick another port \(--http-port or ingress\.http_port\)/);
  await squatter.stop();
});
