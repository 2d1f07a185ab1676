import test from 'ava';
import { SandboxHost, UPLINK } from '../harness';
import { echo, eventually, rawRequest, request, startBackend, startProxy, status, workload, type Echo } from '../fixtures/ingress/ingress-helpers';

interface RouteJson {
  name: string;
  hostname: string;
  path: string;
  backends: string[];
  resolved: string[];
  tls: string;
  timeoutSeconds: number;
  stripPath: boolean;
}

test('routing matrix to real workloads: host, longest prefix, strip, wildcard, 404, X-Forwarded-*, live create/delete', async (t) => {
  const host = await SandboxHost.create(t, {
    // The proxy must be reachable from outside: open its ports in volt's own host firewall.
    config: 'network:\n  firewall:\n    host_input: drop\n    host_allow: [tcp/22, tcp/80, tcp/443]\n',
  });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  const api = await workload(host, 'backend', 'api');
  await startBackend(web.c, 8080, 'web');
  await startBackend(api.c, 3000, 'api');

  const create = (args: string[]): Promise<unknown> => host.voltOk(['ingress', 'create', ...args]);
  await create(['--name', 'web', '--hostname', 'app.example.com', '--backend', `${web.name}:8080`]);
  await create(['--name', 'api', '--hostname', 'app.example.com', '--path', '/v1', '--backend', `${api.name}:3000`]);
  await create(['--name', 'admin', '--hostname', 'App.Example.com', '--path', '/v1/admin/', '--strip-path', '--backend', `${web.name}:8080`]);
  await create(['--name', 'other', '--hostname', 'other.example.com', '--backend', `${api.name}:3000`, '--timeout', '60']);
  await create(['--name', 'apps', '--hostname', '*.apps.example.com', '--backend', `${web.ip}:8080`]);

  const list = await host.voltJson<RouteJson[]>(['ingress', 'list', '-o', 'json']);
  t.deepEqual(
    list.map((r) => [r.name, r.hostname, r.path, r.resolved.join(','), r.stripPath, r.timeoutSeconds]),
    [
      ['apps', '*.apps.example.com', '/', `${web.ip}:8080`, false, 30],
      ['admin', 'app.example.com', '/v1/admin', `${web.ip}:8080`, true, 30],
      ['api', 'app.example.com', '/v1', `${api.ip}:3000`, false, 30],
      ['web', 'app.example.com', '/', `${web.ip}:8080`, false, 30],
      ['other', 'other.example.com', '/', `${api.ip}:3000`, false, 60],
    ],
  );
  const table = await host.voltOk(['ingress', 'list']);
  t.regex(table.stdout, /^NAME\s+HOSTNAME\s+PATH\s+BACKEND\s+ADDRESS\s+TLS\s+TIMEOUT$/m);

  await startProxy(host);
  const get = (hostHeader: string, path: string): Promise<Echo> => request(host, { url: `http://127.0.0.1${path}`, host: hostHeader }).then((r) => echo(t, r));
  const matrix: [string, string, string, string][] = [
    // host header, path, backend that answers, URL it saw
    ['app.example.com', '/', 'web', '/'],
    ['app.example.com', '/index.html?x=1', 'web', '/index.html?x=1'],
    ['app.example.com', '/v1', 'api', '/v1'],
    ['app.example.com', '/v1/users/7?q=a%20b', 'api', '/v1/users/7?q=a%20b'],
    ['app.example.com', '/v10', 'web', '/v10'],
    ['app.example.com', '/v1/admin/stats?x', 'web', '/stats?x'],
    ['app.example.com', '/v1/admin', 'web', '/'],
    ['APP.example.COM:80', '/v1/x', 'api', '/v1/x'],
    ['app.example.com.', '/v1', 'api', '/v1'],
    ['other.example.com', '/anything', 'api', '/anything'],
    ['x.apps.example.com', '/', 'web', '/'],
  ];
  for (const [h, path, backend, url] of matrix) {
    const e = await get(h, path);
    t.is(e.backend, backend, `${h}${path}`);
    t.is(e.url, url, `${h}${path}`);
  }

  for (const [h, path] of [
    ['unknown.example.com', '/'],
    ['a.b.apps.example.com', '/'],
  ] as const) {
    const r = await request(host, { url: `http://127.0.0.1${path}`, host: h });
    t.is(r.status, 404, h);
    t.is(r.body, `404 Not Found: no route for ${h}${path}\n`, 'a short body that says why');
  }
  const noHost = await rawRequest(host, { host: '127.0.0.1', port: 80, chunks: ['GET / HTTP/1.0\r\n\r\n'] });
  t.regex(noHost.data, /^HTTP\/1\.1 400 Bad Request/);
  t.regex(noHost.data, /missing or invalid Host header/);

  // What the backend sees: Host kept, X-Forwarded-* set by the proxy (a client's own are replaced), hop-by-hop gone, body intact.
  const post = await request(host, {
    url: 'http://127.0.0.1/v1/items',
    method: 'POST',
    host: 'app.example.com',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': '6.6.6.6', connection: 'keep-alive, x-secret', 'x-secret': 'hop', 'x-custom': 'kept' },
    body: '{"a":1}',
  });
  t.is(post.status, 200);
  t.deepEqual(post.headers?.['set-cookie'], ['a=1', 'b=2'], 'repeated response headers survive');
  t.is(post.headers?.['x-backend'], 'api');
  const seen = echo(t, post);
  t.is(seen.method, 'POST');
  t.is(seen.body, '{"a":1}');
  t.is(seen.headers.host, 'app.example.com');
  t.is(seen.headers['x-forwarded-for'], '127.0.0.1');
  t.is(seen.headers['x-forwarded-proto'], 'http');
  t.is(seen.headers['x-forwarded-host'], 'app.example.com');
  t.is(seen.headers['x-custom'], 'kept');
  t.is(seen.headers['x-secret'], undefined, 'headers named in Connection are hop-by-hop');
  t.is(seen.peer, '10.30.0.1', 'the backend sees the proxy on the bridge');

  // From outside the host (through the uplink): X-Forwarded-For is the real client.
  const outside = host.outside!;
  const ext = echo(t, await request(outside, { url: `http://${UPLINK.hostAddress}/v1`, host: 'app.example.com' }));
  t.is(ext.backend, 'api');
  t.is(ext.headers['x-forwarded-for'], UPLINK.outsideAddress);

  // Changes apply to the running proxy before the command returns.
  await host.voltOk(['ingress', 'delete', '--name', 'api']);
  t.is((await get('app.example.com', '/v1/x')).backend, 'web', 'without the /v1 route, / takes it');
  await create(['--name', 'api', '--hostname', 'app.example.com', '--path', '/v1', '--backend', `${api.name}:3000`]);
  t.is((await get('app.example.com', '/v1/x')).backend, 'api');

  const s = await status(host);
  t.true(s.proxy.running);
  t.is(s.proxy.workers.length, 2);
  t.true(s.proxy.workers.reduce((n, w) => n + w.requests, 0) >= matrix.length, 'the workers count what they served');
  t.deepEqual(s.proxy.listeners.map((l) => [l.protocol, l.port]), [['http', 80], ['https', 443]]);
  t.true((s.proxy.generation ?? 0) >= 3);
  t.deepEqual(
    s.routes.map((r) => [r.name, r.health]),
    [['apps', 'healthy'], ['admin', 'healthy'], ['api', 'healthy'], ['web', 'healthy'], ['other', 'healthy']],
  );
  const text = await host.voltOk(['ingress', 'status']);
  t.regex(text.stdout, /^proxy: running, pid \d+/m);
  t.regex(text.stdout, /^listening: http 0\.0\.0\.0:80, https 0\.0\.0\.0:443$/m);
  t.regex(text.stdout, /^ROUTE\s+HOSTNAME\s+PATH\s+TLS\s+BACKEND\s+HEALTH$/m);
});

test('a backend named by workload follows the workload across reconnects; 502 while it has no address', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  await startBackend(web.c, 8080, 'web');
  await host.voltOk(['ingress', 'create', '--name', 'web', '--hostname', 'app.example.com', '--backend', `${web.name}:8080`]);
  await startProxy(host);
  const get = (): ReturnType<typeof request> => request(host, { url: 'http://127.0.0.1/', host: 'app.example.com' });
  t.is(echo(t, await get()).backend, 'web');

  await host.voltOk(['net', 'disconnect', web.name]);
  const gone = await eventually('the proxy to notice the disconnect', async () => {
    const r = await get();
    return r.status === 502 ? r : undefined;
  });
  t.regex(gone.body ?? '', /backend of route web has no address \(workload not connected\)/);

  await host.voltOk(['net', 'connect', 'backend', web.name, '--ip', '10.30.0.77']);
  const back = await eventually('the proxy to follow the reconnect', async () => {
    const r = await get();
    return r.status === 200 ? r : undefined;
  });
  t.is(echo(t, back).backend, 'web');
  const list = await host.voltJson<RouteJson[]>(['ingress', 'list', '-o', 'json']);
  t.deepEqual(list[0]!.resolved, ['10.30.0.77:8080']);
  const s = await status(host);
  t.deepEqual(s.routes[0]!.resolved, ['10.30.0.77:8080']);
});

test('502 when the backend refuses, 504 when it is slower than the route timeout, 502 for a workload that is not connected', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  await startBackend(web.c, 8080, 'web');
  await host.voltOk(['ingress', 'create', '--name', 'slow', '--hostname', 'slow.example.com', '--backend', `${web.name}:8080`, '--timeout', '1']);
  await host.voltOk(['ingress', 'create', '--name', 'closed', '--hostname', 'closed.example.com', '--backend', `${web.name}:9999`]);
  const ghost = await host.volt(['ingress', 'create', '--name', 'ghost', '--hostname', 'ghost.example.com', '--backend', 'ghost:80']);
  t.is(ghost.code, 0);
  t.regex(ghost.stderr, /note: backend workload "ghost" is not connected to any network yet; the route answers 502 until it is/);
  await startProxy(host, { args: ['--health-interval', '60'] });

  const fast = await request(host, { url: 'http://127.0.0.1/slow?ms=50', host: 'slow.example.com' });
  t.is(fast.status, 200);
  const slow = await request(host, { url: 'http://127.0.0.1/slow?ms=4000', host: 'slow.example.com' });
  t.is(slow.status, 504);
  t.is(slow.body, '504 Gateway Timeout: backend of route slow did not answer within 1 s\n');

  const refused = await request(host, { url: 'http://127.0.0.1/', host: 'closed.example.com' });
  t.is(refused.status, 502);
  t.regex(refused.body ?? '', /^502 Bad Gateway: backend of route closed/);

  const unresolved = await request(host, { url: 'http://127.0.0.1/', host: 'ghost.example.com' });
  t.is(unresolved.status, 502);
  t.is(unresolved.body, '502 Bad Gateway: backend of route ghost has no address (workload not connected)\n');
  const s = await status(host);
  t.deepEqual(s.routes.find((r) => r.name === 'ghost')?.health, 'unresolved');
  t.true(s.problems.some((p) => /backend workload "ghost" is not connected/.test(p)));
});
