import test from 'ava';
import type { IngressRoute } from '@volt/core/dist/drivers/ingress';
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
