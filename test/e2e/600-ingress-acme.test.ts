import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost } from '../harness';
import { DNS_STUB_JS, echo, eventually, makeCa, makeCert, request, requests, startBackend, startProxy, status, workload } from '../fixtures/ingress/ingress-helpers';

const HOSTNAME = 'auto.example.test';
/** Short-lived certificates, so that renewal (a third of the lifetime before expiry) happens within the test. */
const VALIDITY_S = 60;

test('--tls auto: a certificate from pebble (ACME HTTP-01 through the proxy’s port 80), stored 0600, reused after a restart, renewed ahead of expiry, never ordered per handshake', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  await startBackend(web.c, 8080, 'web');

  // Pebble on the sandbox's loopback: its own TLS certificate (from a throwaway CA), a DNS stub that
  // points every name at 127.0.0.1, and HTTP-01 validation against port 80 — the proxy.
  const pki = await makeCa(path.join(host.workDir, 'pebble-pki'), 'pebble TLS CA');
  const tlsCert = await makeCert(pki, 'localhost', ['localhost', '127.0.0.1']);
  const config = path.join(host.workDir, 'pebble.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: '127.0.0.1:14000',
        managementListenAddress: '127.0.0.1:15000',
        certificate: tlsCert.cert,
        privateKey: tlsCert.key,
        httpPort: 80,
        tlsPort: 5001,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        certificateValidityPeriod: VALIDITY_S,
      },
    }),
  );
  const dns = host.spawn(process.execPath, [DNS_STUB_JS, '127.0.0.1', '8053']);
  await dns.waitForOutput(/^LISTENING/m);
  const pebble = host.spawn('pebble', ['-config', config, '-dnsserver', '127.0.0.1:8053', '-strict=false'], {
    env: { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
  });
  await pebble.waitForOutput(/ACME directory available at/, { stream: 'any', timeoutMs: 20_000 });

  await host.voltOk(['ingress', 'create', '--name', 'auto', '--hostname', HOSTNAME, '--backend', `${web.name}:8080`, '--tls', 'auto']);
  const acmeArgs = ['--acme-directory', 'https://127.0.0.1:14000/dir', '--acme-ca', pki.caCert, '--acme-email', 'ops@example.com'];
  let proxy = await startProxy(host, { args: acmeArgs });

  const issued = await eventually(
    'the certificate to be issued',
    async () => {
      const c = (await status(host)).certificates.find((x) => x.hostname === HOSTNAME);
      return c?.state === 'valid' ? c : undefined;
    },
    60_000,
  );
  t.is(issued.source, 'acme');
  t.is(issued.orders, 1);
  t.regex(proxy.stderr, /acme: certificate for auto\.example\.test issued/);

  // A client that trusts pebble's root gets a valid certificate for the route's name.
  const roots = await request(host, { url: 'https://127.0.0.1:15000/roots/0', ca: pki.caCert, servername: 'localhost' });
  t.is(roots.status, 200);
  const rootFile = path.join(host.workDir, 'pebble-root.pem');
  fs.writeFileSync(rootFile, roots.body ?? '');
  const https = { url: 'https://127.0.0.1/hello', host: HOSTNAME, servername: HOSTNAME, ca: rootFile };
  const r = await request(host, https);
  t.is(r.status, 200, JSON.stringify(r));
  t.true(r.tls?.authorized, 'verified against pebble’s root');
  t.is(r.tls?.san, `DNS:${HOSTNAME}`);
  t.regex(r.tls?.issuer ?? '', /^Pebble Intermediate CA/);
  t.is(r.tls?.serial?.toLowerCase(), issued.serial?.toLowerCase());
  t.is(echo(t, r).headers['x-forwarded-proto'], 'https');
  const redirect = await request(host, { url: 'http://127.0.0.1/hello', host: HOSTNAME });
  t.is(redirect.status, 308);
  t.is(redirect.headers?.location, `https://${HOSTNAME}/hello`);

  // Stored under <root>/var/lib/volt/ingress, keys owner-only.
  const dir = path.join(host.root, 'var/lib/volt/ingress');
  const mode = (f: string): number => fs.statSync(f).mode & 0o777;
  t.is(mode(path.join(dir, 'certs', HOSTNAME, 'key.pem')), 0o600);
  t.is(mode(path.join(dir, 'certs', HOSTNAME)), 0o700);
  const accounts = fs.readdirSync(path.join(dir, 'acme'));
  t.is(accounts.length, 1);
  t.is(mode(path.join(dir, 'acme', accounts[0]!, 'account.key')), 0o600);
  t.regex(fs.readFileSync(path.join(dir, 'certs', HOSTNAME, 'cert.pem'), 'utf8'), /^-----BEGIN CERTIFICATE-----/);

  // Handshakes look certificates up; they never order one.
  const many = await requests(host, https, 12);
  t.true(many.every((x) => x.status === 200 && x.tls?.serial === r.tls?.serial), JSON.stringify(many.map((x) => x.status ?? x.error)));
  t.is((await status(host)).certificates.find((x) => x.hostname === HOSTNAME)?.orders, 1);

  // A restart reuses the stored certificate: no new order.
  const stopped = await proxy.stop('SIGTERM', 20_000);
  t.is(stopped.code, 0);
  proxy = await startProxy(host, { args: acmeArgs });
  const reused = (await status(host)).certificates.find((x) => x.hostname === HOSTNAME);
  t.is(reused?.state, 'valid');
  t.is(reused?.serial, issued.serial);
  t.is(reused?.orders, 0, 'nothing ordered by the new process');
  t.is((await request(host, https)).tls?.serial, r.tls?.serial);

  // Renewal, a third of the lifetime before expiry: a new certificate, served without a restart.
  const renewed = await eventually(
    'the certificate to be renewed',
    async () => {
      const c = (await status(host)).certificates.find((x) => x.hostname === HOSTNAME);
      return c?.serial !== undefined && c.serial !== issued.serial && c.state === 'valid' ? c : undefined;
    },
    VALIDITY_S * 1000 + 30_000,
  );
  t.is(renewed.orders, 1);
  t.true(Date.parse(renewed.notAfter ?? '') > Date.parse(issued.notAfter ?? ''));
  const after = await request(host, https);
  t.is(after.status, 200);
  t.is(after.tls?.serial?.toLowerCase(), renewed.serial?.toLowerCase());
  t.regex(proxy.stderr, /acme: renewing a certificate for auto\.example\.test/);
});
