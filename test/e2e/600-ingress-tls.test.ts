import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost } from '../harness';
import { echo, makeCa, makeCert, rawRequest, request, startBackend, startProxy, status, workload } from '../fixtures/ingress/ingress-helpers';

test('manual certificates chosen by SNI for two hostnames, HTTP→HTTPS redirect, TLS 1.2 minimum, new files picked up on reload', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  await startBackend(web.c, 8080, 'web');
  const pki = await makeCa(path.join(host.workDir, 'pki'));
  const a = await makeCert(pki, 'a', ['a.example.com']);
  const b = await makeCert(pki, 'b', ['b.example.com', 'www.b.example.com']);
  await host.voltOk(['ingress', 'create', '--name', 'a', '--hostname', 'a.example.com', '--backend', `${web.name}:8080`, '--tls', 'manual', '--cert', a.cert, '--key', a.key]);
  await host.voltOk(['ingress', 'create', '--name', 'b', '--hostname', 'b.example.com', '--backend', `${web.name}:8080`, '--tls', 'manual', '--cert', b.cert, '--key', b.key]);
  await host.voltOk(['ingress', 'create', '--name', 'plain', '--hostname', 'plain.example.com', '--backend', `${web.name}:8080`]);
  await startProxy(host);

  const https = (servername: string, extra: Record<string, unknown> = {}): ReturnType<typeof request> =>
    request(host, { url: 'https://127.0.0.1/hello?x=1', host: servername, servername, ca: pki.caCert, ...extra });

  const ra = await https('a.example.com');
  t.is(ra.status, 200, JSON.stringify(ra));
  t.true(ra.tls?.authorized, 'the client verifies the chain and the name');
  t.is(ra.tls?.subject, 'a.example.com');
  const seen = echo(t, ra);
  t.is(seen.headers['x-forwarded-proto'], 'https');
  t.is(seen.url, '/hello?x=1');
  const rb = await https('b.example.com');
  t.is(rb.status, 200);
  t.is(rb.tls?.subject, 'b.example.com');
  t.not(rb.tls?.serial, ra.tls?.serial);

  // A name without a certificate gets no handshake at all (no default certificate to leak).
  const unknown = await https('c.example.com');
  t.is(unknown.status, undefined);
  t.truthy(unknown.error);
  const plainOverTls = await https('plain.example.com');
  t.truthy(plainOverTls.error, 'a route without TLS has no certificate either');

  // The Host must belong to the connection's certificate.
  const misdirected = await request(host, { url: 'https://127.0.0.1/', host: 'b.example.com', servername: 'a.example.com', ca: pki.caCert });
  t.is(misdirected.status, 421);

  // Plain HTTP to a TLS route: a permanent redirect that keeps path and query.
  const redirect = await request(host, { url: 'http://127.0.0.1/some/path?q=1', host: 'a.example.com' });
  t.is(redirect.status, 308);
  t.is(redirect.headers?.location, 'https://a.example.com/some/path?q=1');
  const plain = await request(host, { url: 'http://127.0.0.1/', host: 'plain.example.com' });
  t.is(plain.status, 200, 'routes without TLS are not redirected');

  // TLS 1.2 is the floor.
  const tls12 = await https('a.example.com', { maxVersion: 'TLSv1.2' });
  t.is(tls12.tls?.protocol, 'TLSv1.2');
  const tls11 = await https('a.example.com', { maxVersion: 'TLSv1.1' });
  t.is(tls11.status, undefined);
  t.regex(tls11.error ?? '', /PROTOCOL|VERSION|EPROTO|ECONNRESET/i);
  t.is(ra.tls?.protocol, 'TLSv1.3');

  // Replace a's files on disk (a renewal done by someone else); reload serves the new certificate.
  const a2 = await makeCert(pki, 'a2', ['a.example.com']);
  fs.copyFileSync(a2.cert, a.cert);
  fs.copyFileSync(a2.key, a.key);
  const before = await https('a.example.com');
  t.is(before.tls?.serial, ra.tls?.serial, 'files are read on reload, not behind the proxy’s back');
  const reload = await host.voltOk(['ingress', 'reload']);
  t.regex(reload.stdout, /^reloaded: 3 routes, generation \d+$/m);
  const after = await https('a.example.com');
  t.is(after.status, 200);
  t.not(after.tls?.serial, ra.tls?.serial);

  const s = await status(host);
  t.deepEqual(
    s.certificates.map((c) => [c.hostname, c.source, c.state]),
    [['a.example.com', 'manual', 'valid'], ['b.example.com', 'manual', 'valid']],
  );
  t.true(s.certificates.every((c) => c.notAfter !== undefined && Date.parse(c.notAfter) > Date.now()));
  const text = await host.voltOk(['ingress', 'status']);
  t.regex(text.stdout, /^CERTIFICATE\s+SOURCE\s+STATE\s+EXPIRES/m);
  t.regex(text.stdout, /^a\.example\.com\s+manual\s+valid\s+\d{4}-/m);
});

test('passthrough: the TLS stream goes to the backend chosen by SNI; the client sees the backend’s own certificate', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const secure = await workload(host, 'backend', 'secure');
  const web = await workload(host, 'backend', 'web');
  // The backend's certificate comes from a CA the proxy knows nothing about.
  const backendPki = await makeCa(path.join(host.workDir, 'backend-pki'), 'backend CA');
  const own = await makeCert(backendPki, 'p', ['p.example.com']);
  await startBackend(secure.c, 8443, 'secure', own);
  await startBackend(web.c, 8080, 'web');
  const proxyPki = await makeCa(path.join(host.workDir, 'proxy-pki'), 'proxy CA');
  const m = await makeCert(proxyPki, 'm', ['m.example.com']);
  await host.voltOk(['ingress', 'create', '--name', 'p', '--hostname', 'p.example.com', '--backend', `${secure.name}:8443`, '--tls', 'passthrough']);
  await host.voltOk(['ingress', 'create', '--name', 'm', '--hostname', 'm.example.com', '--backend', `${web.name}:8080`, '--tls', 'manual', '--cert', m.cert, '--key', m.key]);
  await startProxy(host);

  const r = await request(host, { url: 'https://127.0.0.1/through?x=1', host: 'p.example.com', servername: 'p.example.com', ca: backendPki.caCert });
  t.is(r.status, 200, JSON.stringify(r));
  t.true(r.tls?.authorized);
  t.is(r.tls?.issuer, 'backend CA', 'not terminated: the certificate is the backend’s');
  const e = echo(t, r);
  t.is(e.backend, 'secure');
  t.true(e.tls, 'the backend terminated TLS itself');
  t.is(e.url, '/through?x=1');
  t.is(e.headers['x-forwarded-for'], undefined, 'untouched: the proxy never saw the request');

  // Beside it, a terminated route on the same port still works.
  const rm = await request(host, { url: 'https://127.0.0.1/', host: 'm.example.com', servername: 'm.example.com', ca: proxyPki.caCert });
  t.is(rm.status, 200);
  t.is(rm.tls?.issuer, 'proxy CA');

  // Plain HTTP for the passthrough name is redirected; garbage on the TLS port is closed.
  const redirect = await request(host, { url: 'http://127.0.0.1/x', host: 'p.example.com' });
  t.is(redirect.status, 308);
  t.is(redirect.headers?.location, 'https://p.example.com/x');
  const garbage = await rawRequest(host, { host: '127.0.0.1', port: 443, chunks: ['GET / HTTP/1.1\r\nHost: p.example.com\r\n\r\n'] });
  t.true(garbage.closed);
  t.false(garbage.data.includes('200'));

  // Status: the passthrough backend is checked with a TCP connect.
  const s = await status(host);
  t.deepEqual(
    s.routes.map((x) => [x.name, x.health]),
    [['m', 'healthy'], ['p', 'healthy']],
  );
});
