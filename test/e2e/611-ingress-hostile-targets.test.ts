import test, { type ExecutionContext } from 'ava';
import { SandboxHost } from '../harness';
import { rawRequest, startBackend, startProxy, workload, type Echo } from '../fixtures/ingress/ingress-helpers';

/**
 * Hostile request targets and Host values, sent as raw bytes, on the fast
 * path and on Node's path (VOLT_INGRESS_FAST_PATH=0): which backend a
 * request reaches, and the path and Host it receives, come from the
 * normalised target (docs/ingress.md, "Request targets and paths").
 */

type Want = { backend: string; url: string; host?: string } | { status: number; says?: RegExp };

/** [request line target, Host header (null: none), what must happen] */
const ORIGIN: [string, string | null, Want][] = [
  // Dot segments and encoded dots are resolved before routing: /v1/.. is not /v1.
  ['/v1/../admin', 'app.test', { backend: 'web', url: '/admin' }],
  ['/v1/%2e%2e/admin', 'app.test', { backend: 'web', url: '/admin' }],
  ['/v1/.%2E/admin', 'app.test', { backend: 'web', url: '/admin' }],
  ['/./v1/x', 'app.test', { backend: 'api', url: '/v1/x' }],
  ['/admin/../v1/x', 'app.test', { backend: 'api', url: '/v1/x' }],
  ['//v1//x', 'app.test', { backend: 'api', url: '/v1/x' }],
  ['/%761/x', 'app.test', { backend: 'api', url: '/v1/x' }],
  ['/v1/.', 'app.test', { backend: 'api', url: '/v1/' }],
  // Reserved escapes stay encoded (hex upper-cased); the query string is forwarded untouched.
  ['/v1/a%2fb%3f?q=%2e%2e/../x&r=%zz', 'app.test', { backend: 'api', url: '/v1/a%2Fb%3F?q=%2e%2e/../x&r=%zz' }],
  ['/v1/a%2eb/%7euser', 'app.test', { backend: 'api', url: '/v1/a.b/~user' }],
  // --strip-path strips from the normalised path.
  ['/s/x/../y?z', 'app.test', { backend: 'api', url: '/y?z' }],
  ['/s/../../x', 'app.test', { status: 400, says: /climbs above the root/ }],
  ['/..', 'app.test', { status: 400, says: /climbs above the root/ }],
  ['/v1/%2e%2e/%2e%2e/x', 'app.test', { status: 400, says: /climbs above the root/ }],
  ['/v1/%zz', 'app.test', { status: 400, says: /invalid percent-encoding/ }],
  ['/v1/%4', 'app.test', { status: 400, says: /invalid percent-encoding/ }],
  ['/v1/a%00b', 'app.test', { status: 400, says: /encoded NUL/ }],
  ['/v1\\..\\admin', 'app.test', { status: 400, says: /backslash/ }],
  ['/v1/..;/admin', 'app.test', { status: 400, says: /segment/ }],
  // Host: a name and an optional numeric port, nothing else.
  ['/v1/x', 'APP.test:8080', { backend: 'api', url: '/v1/x', host: 'APP.test:8080' }],
  ['/', 'app.test:abc', { status: 400, says: /invalid port/ }],
  ['/', 'app.test:', { status: 400, says: /invalid port/ }],
  ['/', 'app.test:65536', { status: 400, says: /invalid port/ }],
  ['/', 'app.test:80:80', { status: 400, says: /invalid port/ }],
  ['/', 'app.test/x', { status: 400, says: /character/ }],
  ['/', 'app .test', { status: 400, says: /whitespace/ }],
  ['/', 'app..test', { status: 400, says: /empty label/ }],
  ['/', '[fd00::1', { status: 400, says: /Host/ }],
];

/** [raw request line + extra headers, what must happen] — absolute-form and duplicate Host. */
const RAW: [string, Want][] = [
  // The target's authority replaces Host (RFC 9112 §3.2.2): routed by it, forwarded with it, origin-form.
  ['GET http://app.test/v1/abs HTTP/1.1\r\nHost: other.test', { backend: 'api', url: '/v1/abs', host: 'app.test' }],
  ['GET HTTP://app.test:8080/v1/../x?y HTTP/1.1\r\nHost: other.test', { backend: 'web', url: '/x?y', host: 'app.test:8080' }],
  ['GET http://app.test?q HTTP/1.1\r\nHost: app.test', { backend: 'web', url: '/?q', host: 'app.test' }],
  ['GET ftp://app.test/ HTTP/1.1\r\nHost: app.test', { status: 400, says: /scheme/ }],
  ['GET http://user@app.test/ HTTP/1.1\r\nHost: app.test', { status: 400, says: /userinfo/ }],
  ['GET http://app.test:abc/ HTTP/1.1\r\nHost: app.test', { status: 400, says: /invalid port/ }],
  ['GET http:///v1 HTTP/1.1\r\nHost: app.test', { status: 400 }],
  ['GET / HTTP/1.1\r\nHost: app.test\r\nHost: evil.test', { status: 400 }],
];

function parse(data: string): { status: number; body: string } {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
  const at = data.indexOf('\r\n\r\n');
  let body = at < 0 ? '' : data.slice(at + 4);
  if (/^transfer-encoding: *chunked/im.test(data.slice(0, at))) {
    let out = '';
    for (let p = 0; ; ) {
      const eol = body.indexOf('\r\n', p);
      const n = eol < 0 ? 0 : parseInt(body.slice(p, eol), 16);
      if (!(n > 0)) break;
      out += body.slice(eol + 2, eol + 2 + n);
      p = eol + 4 + n;
    }
    body = out;
  }
  return { status: m ? Number(m[1]) : 0, body };
}

async function scenario(t: ExecutionContext, fastPath: boolean): Promise<void> {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  const api = await workload(host, 'backend', 'api');
  await startBackend(web.c, 8080, 'web');
  await startBackend(api.c, 3000, 'api');
  const create = (args: string[]): Promise<unknown> => host.voltOk(['ingress', 'create', ...args]);
  await create(['--name', 'web', '--hostname', 'app.test', '--backend', `${web.name}:8080`]);
  await create(['--name', 'api', '--hostname', 'app.test', '--path', '/v1', '--backend', `${api.name}:3000`]);
  await create(['--name', 'strip', '--hostname', 'app.test', '--path', '/s', '--strip-path', '--backend', `${api.name}:3000`]);
  await startProxy(host, fastPath ? {} : { env: { VOLT_INGRESS_FAST_PATH: '0' } });

  // Every case is checked; the mismatches are reported together.
  const wrong: string[] = [];
  const check = async (what: string, head: string, want: Want): Promise<void> => {
    const r = await rawRequest(host, { host: '127.0.0.1', port: 80, chunks: [`${head}\r\nConnection: close\r\n\r\n`] });
    const { status, body } = parse(r.data);
    const got = JSON.stringify(r.data.slice(0, 200));
    if ('backend' in want) {
      if (status !== 200) {
        wrong.push(`${what}: expected 200 from ${want.backend}, got ${got}`);
        return;
      }
      const e = JSON.parse(body) as Echo;
      const seen = [e.backend, e.url, e.headers.host];
      const expected = [want.backend, want.url, want.host ?? 'app.test'];
      if (JSON.stringify(seen) !== JSON.stringify(expected)) wrong.push(`${what}: backend saw ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}`);
    } else if (status !== want.status || body.includes('"backend"') || (want.says !== undefined && !want.says.test(body))) {
      wrong.push(`${what}: expected ${want.status}${want.says ? ` saying ${String(want.says)}` : ''}, got ${got}`);
    }
  };
  for (const [target, h, want] of ORIGIN) await check(`${target} Host: ${h ?? '(none)'}`, `GET ${target} HTTP/1.1${h === null ? '' : `\r\nHost: ${h}`}`, want);
  for (const [head, want] of RAW) await check(head.split('\r\n').join(' | '), head, want);
  t.deepEqual(wrong, []);
}

test('hostile targets and Host values on the fast path', (t) => scenario(t, true));
test('hostile targets and Host values on Node’s path (VOLT_INGRESS_FAST_PATH=0)', (t) => scenario(t, false));
