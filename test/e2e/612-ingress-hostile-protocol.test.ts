import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { SandboxHost } from '../harness';
import { rawRequest, startProxy, workload } from '../fixtures/ingress/ingress-helpers';

/**
 * Issue 16, items 2 and 7, as raw bytes against a scripted backend
 * (test/fixtures/ingress/raw-backend.ts: the request path picks its answer),
 * on the fast path and on Node's path (VOLT_INGRESS_FAST_PATH=0): the Upgrade
 * tunnel opens only after the backend's 101; interim responses; request
 * versions; a misbehaving backend.
 */

const RAW_BACKEND_JS = path.join(__dirname, '..', 'fixtures', 'ingress', 'raw-backend.js');

/** Every status line in what came back (a body without a line end runs into the next one). */
const statusLines = (data: string): string[] => [...data.matchAll(/HTTP\/1\.\d \d{3}[^\r\n]*/g)].map((m) => m[0]);

async function scenario(t: ExecutionContext, fastPath: boolean): Promise<void> {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.33.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  const backend = web.c.spawn(process.execPath, [RAW_BACKEND_JS, '8080']);
  await backend.waitForOutput(/^LISTENING/m, { timeoutMs: 15_000 });
  await host.voltOk(['ingress', 'create', '--name', 'app', '--hostname', 'app.test', '--backend', `${web.name}:8080`]);
  await startProxy(host, { workers: 1, ...(fastPath ? {} : { env: { VOLT_INGRESS_FAST_PATH: '0' } }) });
  const send = (chunks: string[], delayMs = 300): ReturnType<typeof rawRequest> => rawRequest(host, { host: '127.0.0.1', port: 80, chunks, delayMs });
  const requests = (): string[] => backend.stdout.split('\n').filter((l) => l.startsWith('REQ '));
  const raws = (): string => backend.stdout.split('\n').filter((l) => l.startsWith('RAW ')).map((l) => JSON.parse(l.slice(4)) as string).join('');
  const upgrade = (target: string, version = '1.1'): string => `GET ${target} HTTP/${version}\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`;

  // 1. Declined upgrade: an ordinary response, then the connection is HTTP again. The request smuggled behind the
  //    upgrade (another Host, a forged X-Forwarded-For) is parsed and routed like any: 404, never the backend.
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: internal.test\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n';
  const third = 'GET /third HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n';
  const declined = await send([upgrade('/up-200') + smuggled, third]);
  t.deepEqual(statusLines(declined.data), ['HTTP/1.1 200 OK', 'HTTP/1.1 404 Not Found', 'HTTP/1.1 200 OK'], declined.data);
  t.regex(declined.data, /\r\n\r\ndeclined/);
  t.regex(declined.data, /no route for internal\.test/);
  await backend.waitForOutput(/^REQ GET \/third /m, { timeoutMs: 15_000 });
  t.false(raws().includes('/smuggled'), 'the request behind the declined upgrade never reached the backend');
  t.false(raws().includes('6.6.6.6'), 'X-Forwarded-For is the proxy’s on every request of the connection');
  t.regex(raws(), /GET \/third HTTP\/1\.1\r\n(?:[^\r]*\r\n)*?x-forwarded-for: [\d.]+\r\n/i);

  // 2. Accepted upgrade: the 101 goes back as sent, then bytes flow both ways (those sent early included).
  const accepted = await send([upgrade('/up-101') + 'early ', 'bye']);
  t.regex(accepted.data, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  t.regex(accepted.data, /\r\n\r\nECHO early bye$/);
  // 101 to a protocol the client did not offer: 502, nothing of it passed on.
  const wrong = await send([upgrade('/up-101-h2c')]);
  t.regex(wrong.data, /^HTTP\/1\.1 502 /);
  t.false(wrong.data.includes('LEAK') || wrong.data.includes('HTTP/1.1 101'), wrong.data);

  // A chunked body on an upgrade request is refused, not tunnelled.
  const te = await send(['GET /up-101 HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n']);
  t.regex(te.data, /^HTTP\/1\.1 400 /, te.data);
  t.false(te.data.includes('HTTP/1.1 101'));

  // 3. Interim responses: to HTTP/1.1 clients, not to HTTP/1.0 ones.
  const hints = await send(['GET /103 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n']);
  t.deepEqual(statusLines(hints.data), ['HTTP/1.1 103 Early Hints', 'HTTP/1.1 200 OK'], hints.data);
  t.regex(hints.data, /\r\nLink: <\/style\.css>; rel=preload\r\n/i);
  const hints10 = await send(['GET /103 HTTP/1.0\r\nHost: app.test\r\n\r\n']);
  t.deepEqual(statusLines(hints10.data), ['HTTP/1.1 200 OK'], hints10.data);
  // Expect: 100-continue gets its 100, then the body reaches the backend.
  const cont = await send(['POST /expect HTTP/1.1\r\nHost: app.test\r\nExpect: 100-continue\r\nContent-Length: 4\r\nConnection: close\r\n\r\n', 'body']);
  t.deepEqual(statusLines(cont.data), ['HTTP/1.1 100 Continue', 'HTTP/1.1 200 OK'], cont.data);
  if (fastPath) {
    // A backend's own 100 (undici refuses one it did not ask for, so only the fast path passes it on: docs/ingress.md).
    const c100 = await send(['GET /100 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n']);
    t.deepEqual(statusLines(c100.data), ['HTTP/1.1 100 Continue', 'HTTP/1.1 200 OK'], c100.data);
  }

  // 4. Versions: 2.0 and later, and 0.9, are 505; malformed ones 400; 1.2 is 1.1 (fast path: Node's parser refuses it).
  const versions: [string, RegExp][] = [
    ['HTTP/2.0', /^HTTP\/1\.1 505 /],
    ['HTTP/3.1', /^HTTP\/1\.1 505 /],
    ['HTTP/0.9', /^HTTP\/1\.1 505 /],
    ['HTTP/1.10', /^HTTP\/1\.1 400 /],
    ['http/1.1', /^HTTP\/1\.1 400 /],
    ['HTTP/1.x', /^HTTP\/1\.1 400 /],
    ['HTTP/1.0', /^HTTP\/1\.1 200 /],
    ...(fastPath ? ([['HTTP/1.2', /^HTTP\/1\.1 200 /]] as [string, RegExp][]) : []),
  ];
  for (const [v, want] of versions) {
    const r = await send([`GET /version/${v.replace('/', '-')} ${v}\r\nHost: app.test\r\nConnection: close\r\n\r\n`]);
    t.regex(r.data, want, `${v}: ${JSON.stringify(r.data.slice(0, 120))}`);
  }
  const seen = requests().filter((l) => l.includes('/version/'));
  t.deepEqual(seen, ['REQ GET /version/HTTP-1.0 HTTP/1.1', ...(fastPath ? ['REQ GET /version/HTTP-1.2 HTTP/1.1'] : [])], 'only the served versions reached the backend, as HTTP/1.1');
  if (fastPath) {
    // HTTP/1.2 with an Upgrade goes to Node's parser, rewritten as 1.1.
    const up12 = await send([upgrade('/up-200', '1.2') + 'GET /after12 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n']);
    t.deepEqual(statusLines(up12.data), ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK'], up12.data);
  }

  // 5. A misbehaving backend: 502, nothing of its response passed on, the connection closed (the next request unanswered).
  for (const target of ['/bad-status', '/cl-te', '/dup-cl', '/big-head', '/bare-lf']) {
    const r = await send([`GET ${target} HTTP/1.1\r\nHost: app.test\r\n\r\n`, `GET ${target}-after HTTP/1.1\r\nHost: app.test\r\n\r\n`], 500);
    t.deepEqual(statusLines(r.data), ['HTTP/1.1 502 Bad Gateway'], `${target}: ${JSON.stringify(r.data.slice(0, 200))}`);
    t.false(r.data.includes('LEAK'), `${target}: nothing of the bad response reached the client`);
    t.true(r.closed, `${target}: the client connection was closed`);
  }
  t.false(requests().some((l) => l.includes('-after')), 'nothing sent after a broken response reached the backend');
}

test('hostile protocol (upgrade, 1xx, versions, backend misbehaviour) on the fast path', (t) => scenario(t, true));
test('hostile protocol (upgrade, 1xx, versions, backend misbehaviour) on Node’s path (VOLT_INGRESS_FAST_PATH=0)', (t) => scenario(t, false));
