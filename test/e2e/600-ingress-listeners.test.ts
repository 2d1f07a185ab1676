import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost, type BackgroundProcess } from '../harness';
import { echo, eventually, request, requestInBackground, startBackend, status, workload, WsClient } from '../fixtures/ingress/ingress-helpers';

/**
 * The `ingress:` section of config.yaml, and listeners that move on
 * `volt ingress reload` without a restart (docs/ingress.md, "Settings and
 * reload"). The proxy here is started without port flags, so config.yaml
 * decides.
 */

const config = (httpPort: number, extra = ''): string =>
  `# volt test\ningress:\n  http_port: ${httpPort}\n  https_port: 8443\n  workers: 2\n  idle_timeout: 60\n  drain_timeout: 20\n${extra}`;

/** One keep-alive connection; a request at start and one per line on stdin. Prints each response with the local port. */
const KEEPALIVE = `
const http = require('http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let n = 0;
let socket;
const ask = () => {
  const req = http.get({ host: '127.0.0.1', port: Number(process.argv[1]), path: '/keepalive', headers: { host: 'app.example.com' }, agent }, (res) => {
    res.resume();
    res.on('end', () => console.log('RESPONSE ' + ++n + ' ' + res.statusCode + ' port ' + req.socket.localPort + (req.reusedSocket ? ' reused' : ' new')));
  });
  req.on('error', (e) => console.log('ERROR ' + e.code));
  req.on('socket', (s) => {
    if (s === socket) return;
    socket = s;
    s.on('close', () => console.log('CLOSED'));
  });
};
ask();
process.stdin.on('data', ask);
`;

/** The inode of the socket listening on `port` in the sandbox host (from /proc/net/tcp). */
async function listenInode(host: SandboxHost, port: number): Promise<string | undefined> {
  const r = await host.exec('cat', ['/proc/net/tcp']);
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of r.stdout.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hex}`) && f[3] === '0A') return f[9];
  }
  return undefined;
}

async function serve(host: SandboxHost): Promise<BackgroundProcess> {
  const p = host.spawnVolt(['ingress', 'serve']);
  await p.waitForOutput(/^volt ingress: serving /m, { timeoutMs: 30_000 });
  return p;
}

function ports(s: { proxy: { listeners: { protocol: string; port: number }[] } }): string[] {
  return s.proxy.listeners.map((l) => `${l.protocol}:${l.port}`);
}

interface WorkerJson {
  pid: number;
  draining?: boolean;
}

function servingPids(s: { proxy: { workers: WorkerJson[] } }): number[] {
  return s.proxy.workers.filter((w) => w.draining !== true).map((w) => w.pid).sort((a, b) => a - b);
}

test('ingress settings from config.yaml; reload keeps unchanged listeners (same socket, same workers, connections opened before still served) and moves a changed one (new port serves, old refuses, in-flight work finishes); a port that cannot be bound or a bad file changes nothing', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false, config: config(8080) });
  const file = path.join(host.root, 'etc/volt/config.yaml');
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  const backend = await startBackend(web.c, 8080, 'web', undefined, { log: true });
  await host.voltOk(['ingress', 'create', '--name', 'app', '--hostname', 'app.example.com', '--backend', `${web.name}:8080`]);

  // config show has the section, with the file's values over the defaults.
  const shown = await host.voltJson<{ ingress: { http_port: number; https_port: number; max_connections: number; acme: { directory_url: string } } }>(['config', 'show', '-o', 'json']);
  t.is(shown.ingress.http_port, 8080);
  t.is(shown.ingress.max_connections, 10000);
  t.is(shown.ingress.acme.directory_url, 'https://acme-v02.api.letsencrypt.org/directory');
  t.regex((await host.voltOk(['config', 'show'])).stdout, /^ingress:\n {2}http_port: 8080\n {2}https_port: 8443\n/m);

  const proxy = await serve(host);
  t.regex(proxy.stdout, /serving http on 0\.0\.0\.0:8080, https on 0\.0\.0\.0:8443 \(2 workers, 1 route\)/);
  const s1 = await status(host);
  t.deepEqual(ports(s1), ['http:8080', 'https:8443']);
  const pids1 = servingPids(s1);
  t.is(pids1.length, 2);
  const httpInode = await listenInode(host, 8080);
  const httpsInode = await listenInode(host, 8443);
  t.truthy(httpInode);
  t.truthy(httpsInode);

  // Connections opened before the reload: a keep-alive client, and a WebSocket (a tunnel that any reload keeps).
  const ka = host.spawn(process.execPath, ['-e', KEEPALIVE, '8080']);
  await ka.waitForOutput(/^RESPONSE 1 200 port (\d+) new$/m);
  const { ws } = await WsClient.open(host, { url: 'http://127.0.0.1:8080/chat', host: 'app.example.com' });
  t.is(await ws.roundTrip('before', 1), 'web: before');

  // 1. Reload with the listener settings unchanged (the file rewritten, a comment changed): nothing is touched.
  fs.writeFileSync(file, config(8080).replace('# volt test', '# volt test, touched'));
  const same = await host.voltOk(['ingress', 'reload']);
  t.notRegex(same.stdout, /settings:/, 'no settings changed');
  t.is(await listenInode(host, 8080), httpInode, 'same listening socket');
  t.is(await listenInode(host, 8443), httpsInode);
  const s2 = await status(host);
  t.deepEqual(servingPids(s2), pids1, 'same worker processes');
  t.false(s2.proxy.workers.some((w: WorkerJson) => w.draining === true));
  t.is(await ws.roundTrip('still', 2), 'web: still', 'a connection accepted before the reload is still served by the same worker');
  // The keep-alive client asks again: on its connection, or (when the route reload retired the idle
  // connection, see 600-ingress-reload) on a fresh one to the same listener — never an error.
  ka.write('\n');
  await ka.waitForOutput(/^RESPONSE 2 200 port \d+ (new|reused)$/m);
  t.false(ka.stdout.includes('ERROR'), ka.stdout);

  // 2. Move the HTTP listener while a slow request, a keep-alive connection and a WebSocket are open on it.
  const kaBefore = (ka.stdout.match(/^CLOSED$/gm) ?? []).length;
  const slow = requestInBackground(host, { url: 'http://127.0.0.1:8080/slow?ms=3000', host: 'app.example.com' });
  await backend.waitForOutput(/^REQ GET \/slow\?ms=3000$/m);
  fs.writeFileSync(file, config(8081));
  const moved = await host.voltOk(['ingress', 'reload']);
  t.regex(moved.stdout, /^settings: http listener 0\.0\.0\.0:8080 → 0\.0\.0\.0:8081/m);
  t.regex(moved.stdout, /^settings: worker generation 2: 2 workers/m);
  t.regex(proxy.stderr, /settings: http listener 0\.0\.0\.0:8080 → 0\.0\.0\.0:8081/);
  t.is(echo(t, await request(host, { url: 'http://127.0.0.1:8081/new', host: 'app.example.com' })).backend, 'web', 'the new port serves');
  const refused = await request(host, { url: 'http://127.0.0.1:8080/old', host: 'app.example.com' });
  t.is(refused.error, 'ECONNREFUSED', `the old port takes no new connection: ${JSON.stringify(refused)}`);
  t.is(await listenInode(host, 8080), undefined);
  t.is(await listenInode(host, 8443), httpsInode, 'the HTTPS listener did not change: same socket');
  const old = await slow.result;
  t.is(old.status, 200, `the request in flight on the old listener finished: ${JSON.stringify(old)}`);
  t.is(await ws.roundTrip('after', 3), 'web: after', 'a WebSocket on the old listener keeps working while it drains');
  await eventually('the keep-alive connection on the old listener to close', async () => (ka.stdout.match(/^CLOSED$/gm) ?? []).length > kaBefore, 15_000);
  t.pass('the idle keep-alive connection on the old listener was closed by the drain');
  ka.write('\n');
  await ka.waitForOutput(/^ERROR ECONNREFUSED$/m);
  t.pass('and its client cannot reconnect to the old port');
  const s3 = await status(host);
  t.deepEqual(ports(s3), ['http:8081', 'https:8443'], 'status shows the current listeners');
  const pids3 = servingPids(s3);
  t.is(pids3.length, 2);
  t.false(pids3.some((p) => pids1.includes(p)), 'a new generation of workers');
  t.true(s3.proxy.workers.some((w: WorkerJson) => w.draining === true && pids1.includes(w.pid)), 'the old ones drain (the WebSocket holds one)');
  t.regex((await host.voltOk(['ingress', 'status'])).stdout, /^listening: http 0\.0\.0\.0:8081, https 0\.0\.0\.0:8443$/m);
  const info = JSON.parse(fs.readFileSync(path.join(host.root, 'run/volt/ingress.json'), 'utf8')) as { listeners: { port: number }[] };
  t.deepEqual(info.listeners.map((l) => l.port), [8081, 8443]);
  await ws.close();
  await eventually('the old workers to finish draining and exit', async () => !(await status(host)).proxy.workers.some((w: WorkerJson) => w.draining === true));

  // 3. A port that cannot be bound: a clear error naming it; the old listeners keep serving, nothing half-applied.
  const squatter = host.spawn(process.execPath, ['-e', "require('net').createServer().listen(8090, () => console.log('UP'))"]);
  await squatter.waitForOutput(/UP/);
  fs.writeFileSync(file, config(8090));
  const taken = await host.volt(['ingress', 'reload']);
  t.is(taken.code, 5, taken.stderr);
  t.regex(taken.stderr, /^Error: reload the ingress proxy: apply the new ingress settings: listen on 0\.0\.0\.0:8090: address already in use \(EADDRINUSE\); nothing changed, still serving http 0\.0\.0\.0:8081, https 0\.0\.0\.0:8443/m);
  t.regex(taken.stderr, /stop what uses 8090/);
  const s4 = await status(host);
  t.deepEqual(ports(s4), ['http:8081', 'https:8443']);
  t.deepEqual(servingPids(s4), pids3, 'the workers started for the new port are gone; the serving ones are the same');
  t.is(echo(t, await request(host, { url: 'http://127.0.0.1:8081/still', host: 'app.example.com' })).backend, 'web');
  await squatter.stop();

  // 4. A bad config.yaml: a config error with file:line:col; the proxy carries on as it was.
  fs.writeFileSync(file, 'ingress:\n  http_port: 99999\n');
  const badPort = await host.volt(['ingress', 'reload']);
  t.is(badPort.code, 2, badPort.stderr);
  t.regex(badPort.stderr, /config\.yaml:2:3: ingress\.http_port: 99999 is out of range \(1-65535\)/);
  t.regex(badPort.stderr, /the proxy keeps running as it was/);
  fs.writeFileSync(file, 'ingress:\n  http_port: 8082\n  htps_port: 8443\n');
  const unknown = await host.volt(['ingress', 'reload']);
  t.is(unknown.code, 2, unknown.stderr);
  t.regex(unknown.stderr, /config\.yaml:3:3: ingress\.htps_port: unknown key "htps_port"/);
  const s5 = await status(host);
  t.deepEqual(ports(s5), ['http:8081', 'https:8443']);
  t.deepEqual(servingPids(s5), pids3);
  t.is(echo(t, await request(host, { url: 'http://127.0.0.1:8081/still', host: 'app.example.com' })).backend, 'web');

  // 5. SIGHUP reads the file too (how systemctl reload may deliver it).
  fs.writeFileSync(file, config(8083));
  process.kill(proxy.pid, 'SIGHUP');
  await eventually('SIGHUP to move the listener', async () => ports(await status(host)).includes('http:8083'));
  t.is(echo(t, await request(host, { url: 'http://127.0.0.1:8083/hup', host: 'app.example.com' })).backend, 'web');
  t.true(proxy.running);
  const stopped = await proxy.stop('SIGTERM', 40_000);
  t.is(stopped.code, 0, stopped.stderr);
  await ka.stop();
});

test('serve: a bad ingress section is a config error with file:line:col and nothing listens; a flag wins over the file', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false, config: 'ingress:\n  http_port: 8080\n  https_port: 8080\n' });
  const same = await host.volt(['ingress', 'serve']);
  t.is(same.code, 2, same.stderr);
  t.regex(same.stderr, /^Error: .*config\.yaml:3:3: ingress\.https_port: http_port and https_port are both 8080/m);
  fs.writeFileSync(path.join(host.root, 'etc/volt/config.yaml'), 'ingress:\n  workers: 2\n  acme:\n    directory_url: http://ca.example/dir\n');
  const http = await host.volt(['ingress', 'serve']);
  t.is(http.code, 2);
  t.regex(http.stderr, /config\.yaml:4:5: ingress\.acme\.directory_url: must be an https URL/);
  t.is(await listenInode(host, 80), undefined);

  // Flag > config: --http-port wins; the rest (https_port, workers) comes from the file.
  fs.writeFileSync(path.join(host.root, 'etc/volt/config.yaml'), 'ingress:\n  http_port: 8080\n  https_port: 8443\n  workers: 1\n');
  const p = host.spawnVolt(['ingress', 'serve', '--http-port', '9080']);
  await p.waitForOutput(/^volt ingress: serving /m, { timeoutMs: 30_000 });
  t.regex(p.stdout, /serving http on 0\.0\.0\.0:9080, https on 0\.0\.0\.0:8443 \(1 worker, 0 routes\)/);
  // A flag pins its setting: a reload does not move it, even if the file changes.
  fs.writeFileSync(path.join(host.root, 'etc/volt/config.yaml'), 'ingress:\n  http_port: 8081\n  https_port: 8443\n  workers: 1\n');
  const r = await host.voltOk(['ingress', 'reload']);
  t.notRegex(r.stdout, /settings:/);
  t.deepEqual(ports(await status(host)), ['http:9080', 'https:8443']);
  const stopped = await p.stop('SIGTERM', 40_000);
  t.is(stopped.code, 0, stopped.stderr);
});
