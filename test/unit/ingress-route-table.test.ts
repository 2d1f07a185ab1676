import test from 'ava';
import type { IngressRoute } from '@volt/sdk';
import { RouteTable, normalizeHost, pathMatches, pickUpstream, stripPrefix, backendKey } from '@volt/plugin-ingress/dist/route-table';

function r(name: string, hostname: string, path: string, addresses: (string | undefined)[] = ['10.0.0.1'], tls: IngressRoute['tls'] = 'none'): IngressRoute {
  return { name, hostname, path, stripPath: false, tls, timeoutMs: 30_000, backends: addresses.map((a, i) => (a === undefined ? { target: `w${i}`, port: 80 } : { target: `w${i}`, address: a, port: 80 })) };
}

const table = new RouteTable([
  r('root', 'app.example.com', '/'),
  r('v1', 'app.example.com', '/v1'),
  r('admin', 'app.example.com', '/v1/admin'),
  r('other', 'other.example.com', '/api'),
  r('wild', '*.apps.example.com', '/'),
  r('exact', 'x.apps.example.com', '/only'),
]);

const matrix: [string, string, string | undefined][] = [
  ['app.example.com', '/', 'root'],
  ['app.example.com', '/index.html', 'root'],
  ['app.example.com', '/v1', 'v1'],
  ['app.example.com', '/v1/', 'v1'],
  ['app.example.com', '/v1?x=1', 'v1'],
  ['app.example.com', '/v1/users/7', 'v1'],
  ['app.example.com', '/v10', 'root'],
  ['app.example.com', '/v1/admin/x', 'admin'],
  ['app.example.com', '/v1/administrator', 'v1'],
  ['other.example.com', '/api/x', 'other'],
  ['other.example.com', '/', undefined],
  ['y.apps.example.com', '/anything', 'wild'],
  ['a.b.apps.example.com', '/', undefined],
  ['apps.example.com', '/', undefined],
  // An exact host wins over the wildcard, and then only its own paths count (nginx: server block, then location).
  ['x.apps.example.com', '/only/1', 'exact'],
  ['x.apps.example.com', '/', undefined],
  ['unknown.example.com', '/', undefined],
];
for (const [host, path, want] of matrix) {
  test(`route ${host}${path} → ${want ?? '404'}`, (t) => {
    t.is(table.match(host, path)?.route.name, want);
  });
}

test('prefix helpers', (t) => {
  t.true(pathMatches('/', '/x'));
  t.true(pathMatches('/v1', '/v1'));
  t.false(pathMatches('/v1', '/v'));
  t.false(pathMatches('/v1', '/v1x'));
  t.is(stripPrefix('/v1', '/v1/users?x=1'), '/users?x=1');
  t.is(stripPrefix('/v1', '/v1'), '/');
  t.is(stripPrefix('/v1', '/v1?x=1'), '/?x=1');
  t.is(stripPrefix('/', '/a'), '/a');
});

test('Host headers normalise to a name', (t) => {
  t.is(normalizeHost('App.Example.COM:8080'), 'app.example.com');
  t.is(normalizeHost('app.example.com.'), 'app.example.com');
  t.is(normalizeHost('[fd00::1]:443'), 'fd00::1');
  t.is(normalizeHost('[fd00::1'), undefined);
  t.is(normalizeHost(''), undefined);
  t.is(normalizeHost(undefined), undefined);
  t.is(normalizeHost(':80'), undefined);
  // Only a numeric port, only host-name characters (issue 16).
  t.is(normalizeHost('app.example.com:abc'), undefined);
  t.is(normalizeHost('app.example.com:'), undefined);
  t.is(normalizeHost('app.example.com:65536'), undefined);
  t.is(normalizeHost('app .example.com'), undefined);
  t.is(normalizeHost('app.example.com/x'), undefined);
});

// With app.test → web, app.test/v1 → api and app.test/s --strip-path: the route is chosen by the
// normalised path, which is also what is forwarded (issue 16: matching the raw path sent
// /v1/../admin to the /v1 backend and /./v1/x, //v1/x, /%761/x past it).
const hostile = new RouteTable([r('web', 'app.test', '/'), r('api', 'app.test', '/v1'), { ...r('strip', 'app.test', '/s'), stripPath: true }]);
const resolved: [string, string, string][] = [
  ['/v1/x', 'api', '/v1/x'],
  ['/v1/../admin', 'web', '/admin'],
  ['/v1/%2e%2e/admin', 'web', '/admin'],
  ['/./v1/x', 'api', '/v1/x'],
  ['/admin/../v1/x', 'api', '/v1/x'],
  ['//v1/x', 'api', '/v1/x'],
  ['/%761/x', 'api', '/v1/x'],
  ['/v1%2fx', 'web', '/v1%2Fx'],
  ['/v1/..?x', 'web', '/?x'],
  ['/s/a/../b', 'strip', '/s/b'],
];
for (const [target, want, path] of resolved) {
  test(`resolve app.test${target} → ${want} ${path}`, (t) => {
    const got = hostile.resolve('app.test', target);
    if ('error' in got) return t.fail(got.error);
    t.is(got.r?.route.name, want);
    t.is(got.path, path);
  });
}

test('resolve refuses what cannot be normalised; strip-path works on the normalised path', (t) => {
  for (const target of ['/s/../../x', '/..', '/v1/%zz', '/v1/%4', '/v1/%00', '/v1\\..\\x']) t.true('error' in hostile.resolve('app.test', target), target);
  const got = hostile.resolve('app.test', '/s/x/../y?z');
  if ('error' in got) return t.fail(got.error);
  t.is(stripPrefix(got.r!.route.path, got.path), '/y?z');
});

test('a route prefix with escapes is spelled the way normalised requests are', (t) => {
  const tbl = new RouteTable([r('root', 'a.test', '/'), r('cafe', 'a.test', '/caf%c3%a9'), r('tilde', 'a.test', '/%7eu')]);
  t.is(tbl.match('a.test', '/caf%C3%A9/x')?.route.name, 'cafe');
  t.is(tbl.match('a.test', '/~u')?.route.name, 'tilde');
  const got = tbl.resolve('a.test', '/caf%c3%a9/x');
  t.true(!('error' in got) && got.r?.route.name === 'cafe');
});

test('upstreams: round robin over healthy ones; none when all are down or unresolved', (t) => {
  const t2 = new RouteTable([r('rr', 'a.example.com', '/', ['10.0.0.1', '10.0.0.2', undefined, '10.0.0.3'])]);
  const route = t2.match('a.example.com', '/')!;
  t.is(route.upstreams.length, 3, 'a backend without an address is not an upstream');
  const none = new Set<string>();
  t.deepEqual([1, 2, 3, 4].map(() => pickUpstream(route, none)?.address), ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.1']);
  const down = new Set([backendKey('10.0.0.2', 80)]);
  t.deepEqual([1, 2, 3, 4].map(() => pickUpstream(route, down)?.address), ['10.0.0.3', '10.0.0.1', '10.0.0.3', '10.0.0.1']);
  t.is(pickUpstream(route, new Set(route.upstreams.map((u) => u.key))), undefined);
  const unresolved = new RouteTable([r('u', 'u.example.com', '/', [undefined])]).match('u.example.com', '/')!;
  t.is(pickUpstream(unresolved, none), undefined);
  t.is(backendKey('fd00::1', 443), '[fd00::1]:443');
});

test('TLS mode per host name, for SNI decisions', (t) => {
  const t3 = new RouteTable([r('p', 'p.example.com', '/', ['10.0.0.1'], 'passthrough'), r('w', '*.example.org', '/', ['10.0.0.1'], 'manual')]);
  t.is(t3.tlsOf('p.example.com'), 'passthrough');
  t.is(t3.tlsOf('x.example.org'), 'manual');
  t.is(t3.tlsOf('nope.example.com'), undefined);
  t.is(RouteTable.empty.size, 0);
});
