import * as path from 'node:path';
import test from 'ava';
import { SandboxHost } from '../harness';
import { rawRequest, startProxy, workload } from '../fixtures/ingress/ingress-helpers';

const RAW_BACKEND_JS = path.join(__dirname, '..', 'fixtures', 'ingress', 'raw-backend.js');

test('hostile framing: a Connection header naming Content-Length or Host cannot smuggle a second request to the backend', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.31.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  const backend = web.c.spawn(process.execPath, [RAW_BACKEND_JS, '8080']);
  await backend.waitForOutput(/^LISTENING/m, { timeoutMs: 15_000 });
  await host.voltOk(['ingress', 'create', '--name', 'app', '--hostname', 'app.test', '--backend', `${web.name}:8080`]);
  await startProxy(host, { workers: 1 });

  const smuggle = 'POST /a HTTP/1.1\r\nHost: app.test\r\nConnection: Content-Length\r\nContent-Length: 43\r\n\r\nGET /SMUGGLED HTTP/1.1\r\nHost: evil.test\r\n\r\n';
  const r = await rawRequest(host, { host: '127.0.0.1', port: 80, chunks: [smuggle, 'GET /after HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n'] });
  t.regex(r.data, /^HTTP\/1\.1 200 OK/);
  await backend.waitForOutput(/^REQ GET \/after /m, { timeoutMs: 15_000 });
  const reqs = backend.stdout.split('\n').filter((l) => l.startsWith('REQ '));
  t.deepEqual(reqs, ['REQ POST /a HTTP/1.1', 'REQ GET /after HTTP/1.1'], 'the backend saw exactly the two requests the client sent');
  t.false(reqs.some((l) => l.includes('SMUGGLED')));
  t.regex(backend.stdout, /content-length: 43/i, 'the length the proxy framed by reached the backend');

  // Connection: Host must not strip Host either.
  const h = await rawRequest(host, { host: '127.0.0.1', port: 80, chunks: ['GET /host HTTP/1.1\r\nConnection: Host, close\r\nHost: app.test\r\n\r\n'] });
  t.regex(h.data, /^HTTP\/1\.1 200 OK/);
  await backend.waitForOutput(/^REQ GET \/host /m, { timeoutMs: 15_000 });
  const raws = backend.stdout.split('\n').filter((l) => l.startsWith('RAW ')).map((l) => JSON.parse(l.slice(4)) as string).join('');
  t.regex(raws, /GET \/host HTTP\/1\.1\r\n(?:[^\r]*\r\n)*?host: app\.test\r\n/i, 'Host reached the backend');
});

test('hostile framing: two Host headers are the client’s fault (400), on HTTP/1.1 and on HTTP/1.0 alike', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.32.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  const backend = web.c.spawn(process.execPath, [RAW_BACKEND_JS, '8080']);
  await backend.waitForOutput(/^LISTENING/m, { timeoutMs: 15_000 });
  await host.voltOk(['ingress', 'create', '--name', 'app', '--hostname', 'app.test', '--backend', `${web.name}:8080`]);
  await startProxy(host, { workers: 1 });
  for (const version of ['1.1', '1.0']) {
    const r = await rawRequest(host, { host: '127.0.0.1', port: 80, chunks: [`GET /dup HTTP/${version}\r\nHost: app.test\r\nHost: other.test\r\nConnection: close\r\n\r\n`] });
    t.regex(r.data, /^HTTP\/1\.1 400 /, `HTTP/${version}: ${r.data.split('\r\n')[0] ?? ''}`);
  }
  t.false(backend.stdout.includes('REQ GET /dup'), 'nothing reached the backend');
});
