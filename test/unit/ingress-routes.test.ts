import test from 'ava';
import { emptyState, type IngressRouteRecord, type VoltState } from '@volt/core/dist/state/types';
import { resolveRoutes, resolveTarget, routeConflicts, formatBackend } from '@volt/core/dist/services/ingress/ingress-routes';
import { proxySpecFrom, LETS_ENCRYPT_DIRECTORY, type ServeInput } from '@volt/core/dist/services/ingress/ingress-settings';
import { voltPaths } from '@volt/sdk';
import { defaultIngressConfig } from '@volt/core/dist/config/defaults';
import { isVoltError } from '@volt/sdk';

function route(p: Partial<IngressRouteRecord> & { name: string }): IngressRouteRecord {
  return { hostname: 'app.example.com', path: '/', backends: [{ target: 'web', port: 8080 }], tls: 'none', timeoutSeconds: 30, stripPath: false, createdAt: 'x', ...p };
}

function state(): VoltState {
  const s = emptyState();
  s.attachments.push(
    { workload: 'web', network: 'backend', ip: '10.30.0.100', mac: '02:00:00:00:00:01', kind: 'veth', ifname: 'eth0', hostIfname: 'vh1', createdAt: 'x' },
    { workload: 'web', network: 'frontend', ip: '10.20.0.100', mac: '02:00:00:00:00:02', kind: 'veth', ifname: 'eth1', hostIfname: 'vh2', createdAt: 'x' },
    { workload: 'db', network: 'backend', ip: '10.30.0.5', mac: '02:00:00:00:00:03', kind: 'tap', ifname: 'net0', hostIfname: 'tap-1', createdAt: 'x' },
  );
  return s;
}

test('backends resolve: workloads by their first attachment, addresses as they are', (t) => {
  const s = state();
  t.is(resolveTarget(s, 'web'), '10.30.0.100');
  t.is(resolveTarget(s, 'db'), '10.30.0.5', 'a VM by its NIC address');
  t.is(resolveTarget(s, '192.0.2.7'), '192.0.2.7');
  t.is(resolveTarget(s, 'fd00::7'), 'fd00::7');
  t.is(resolveTarget(s, 'ghost'), undefined);
  t.is(formatBackend({ target: 'fd00::7', port: 80 }), '[fd00::7]:80');
});

test('resolveRoutes: milliseconds, addresses, unresolved workloads reported, unreadable certificates left out', (t) => {
  const s = state();
  s.ingress.routes = {
    web: route({ name: 'web', backends: [{ target: 'web', port: 8080 }, { target: 'ghost', port: 8080 }], timeoutSeconds: 1.5 }),
    tls: route({ name: 'tls', hostname: 'secure.example.com', tls: 'manual', cert: '/c.pem', key: '/c.key' }),
    gone: route({ name: 'gone', hostname: 'gone.example.com', tls: 'manual', cert: '/missing.pem', key: '/c.key' }),
  };
  const files: Record<string, string> = { '/c.pem': 'CERT', '/c.key': 'KEY' };
  const { routes, problems } = resolveRoutes(s, (f) => {
    const v = files[f];
    if (v === undefined) throw new Error(`ENOENT: ${f}`);
    return v;
  });
  t.deepEqual(
    routes.map((r) => r.name),
    ['tls', 'web'],
  );
  const web = routes.find((r) => r.name === 'web')!;
  t.is(web.timeoutMs, 1500);
  t.deepEqual(web.backends, [
    { target: 'web', address: '10.30.0.100', port: 8080 },
    { target: 'ghost', port: 8080 },
  ]);
  t.deepEqual(routes.find((r) => r.name === 'tls')!.certificate, { certPem: 'CERT', keyPem: 'KEY', source: '/c.pem' });
  t.is(problems.length, 2);
  t.regex(problems.join('\n'), /route "web": backend workload "ghost" is not connected/);
  t.regex(problems.join('\n'), /route "gone": cannot read its certificate: ENOENT: \/missing\.pem; left out/);
});

test('routeConflicts: same host+path, TLS mode per hostname, passthrough owns its hostname', (t) => {
  const existing = [route({ name: 'web' }), route({ name: 'api', path: '/v1' }), route({ name: 'pt', hostname: 'pt.example.com', tls: 'passthrough' })];
  t.is(routeConflicts(existing, route({ name: 'x', path: '/v1' })).sameMatch?.name, 'api');
  t.is(routeConflicts(existing, route({ name: 'x', path: '/v2' })).sameMatch, undefined);
  t.is(routeConflicts(existing, route({ name: 'x', path: '/v2', tls: 'auto' })).tlsMismatch?.name, 'web');
  t.is(routeConflicts(existing, route({ name: 'x', hostname: 'pt.example.com', path: '/x', tls: 'passthrough' })).passthroughShared?.name, 'pt');
  t.is(routeConflicts(existing, route({ name: 'x', hostname: 'new.example.com', tls: 'passthrough' })).passthroughShared, undefined);
  t.deepEqual(routeConflicts(existing, route({ name: 'web' })), { sameMatch: undefined, tlsMismatch: undefined, passthroughShared: undefined }, 'a route never conflicts with itself');
});

test("the guide's web + secure-web: an HTTPS twin of a plain route is accepted; the plain one is redirected, not served", (t) => {
  const web = route({ name: 'web' });
  const secure = route({ name: 'secure-web', tls: 'auto' });
  const none = { sameMatch: undefined, tlsMismatch: undefined, passthroughShared: undefined };
  t.deepEqual(routeConflicts([web], secure), none, 'secure-web after web');
  t.deepEqual(routeConflicts([secure], web), none, 'web after secure-web');
  t.deepEqual(routeConflicts([web, secure], route({ name: 'api', path: '/v1', tls: 'auto' })), none, 'more HTTPS routes on the hostname');
  t.is(routeConflicts([web, secure], route({ name: 'api', path: '/v1' })).tlsMismatch?.name, 'secure-web', 'a plain route without a twin still conflicts');
  t.is(routeConflicts([web, secure], route({ name: 'm', tls: 'manual' })).sameMatch?.name, 'secure-web', 'two HTTPS routes for one path');
  t.is(routeConflicts([web], route({ name: 'pt', tls: 'passthrough' })).passthroughShared?.name, 'web');
  const s = state();
  s.ingress.routes = { web, 'secure-web': secure };
  const table = resolveRoutes(s, () => '');
  t.deepEqual(table.routes.map((r) => [r.name, r.tls]), [['secure-web', 'auto']], 'only the HTTPS twin goes to the proxy');
});

const serve: ServeInput = {
  httpPort: 80,
  httpsPort: 443,
  address: '0.0.0.0',
  workers: 2,
  acmeDirectory: LETS_ENCRYPT_DIRECTORY,
  acmeRenewBefore: '2592000',
  maxConnections: 10000,
  maxHeaderSize: 16384,
  maxHeaders: 100,
  headerTimeout: '10',
  requestTimeout: '60',
  idleTimeout: '5',
  healthInterval: '5',
  healthTimeout: '2',
  healthFailures: 2,
  drainTimeout: '30',
};

test('serve flags become the driver spec; bad ones are refused', (t) => {
  const paths = voltPaths({ VOLT_ROOT: '/tmp/volt-x' });
  const spec = proxySpecFrom(serve, defaultIngressConfig(), paths, '/');
  t.is(spec.dataDir, '/tmp/volt-x/var/lib/volt/ingress');
  t.is(spec.limits.headerTimeoutMs, 10_000);
  t.is(spec.acme.renewBeforeMs, 30 * 86_400_000);
  t.is(spec.health.intervalMs, 5000);
  t.is(spec.acme.directoryUrl, LETS_ENCRYPT_DIRECTORY);
  t.is(proxySpecFrom({ ...serve, healthInterval: '0.25' }, defaultIngressConfig(), paths, '/').health.intervalMs, 250);
  const bad: [Partial<ServeInput>, RegExp][] = [
    [{ httpPort: 0 }, /--http-port 0 is out of range/],
    [{ httpsPort: 70000 }, /--https-port 70000 is out of range/],
    [{ httpsPort: 80 }, /--http-port and --https-port are both 80/],
    [{ address: 'localhost' }, /--address "localhost" is not an IP address/],
    [{ acmeDirectory: 'not a url' }, /is not a URL/],
    [{ acmeDirectory: 'http://ca.example/dir' }, /must be an https URL/],
    [{ acmeEmail: 'ops' }, /is not an e-mail address/],
    [{ acmeCa: '/nonexistent.pem' }, /cannot read --acme-ca \/nonexistent\.pem: no such file/],
    [{ headerTimeout: 'soon' }, /--header-timeout "soon" is not a number of seconds/],
    [{ workers: 0 }, /--workers 0 is out of range/],
    [{ maxConnections: 0 }, /--max-connections 0 is out of range/],
  ];
  for (const [patch, re] of bad) {
    try {
      proxySpecFrom({ ...serve, ...patch }, defaultIngressConfig(), paths, '/');
      t.fail(`accepted ${JSON.stringify(patch)}`);
    } catch (e: unknown) {
      t.true(isVoltError(e) && e.exitCode === 2, JSON.stringify(patch));
      t.regex((e as Error).message, re);
    }
  }
});
