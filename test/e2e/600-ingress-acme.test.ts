import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost } from '../harness';
import type { BackgroundProcess } from '../harness';
import { DNS_STUB_JS, echo, eventually, makeCa, makeCert, request, requests, startBackend, startProxy, status, workload, type Pki } from '../fixtures/ingress/ingress-helpers';

const HOSTNAME = 'auto.example.test';
/** Short-lived certificates, so that renewal (a third of the lifetime before expiry) happens within the test. */
const VALIDITY_S = 60;

/**
 * Pebble on the sandbox's loopback: its own TLS certificate (from a throwaway CA), a DNS stub that
 * points every name at 127.0.0.1, and HTTP-01 validation against port 80 — the proxy.
 * With `start` false only the files are made; `run` starts it later.
 */
async function startPebble(host: SandboxHost, validityS: number, start = true): Promise<{ pki: Pki; run: () => Promise<BackgroundProcess> }> {
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
        certificateValidityPeriod: validityS,
      },
    }),
  );
  const run = async (): Promise<BackgroundProcess> => {
    const dns = host.spawn(process.execPath, [DNS_STUB_JS, '127.0.0.1', '8053']);
    await dns.waitForOutput(/^LISTENING/m);
    const pebble = host.spawn('pebble', ['-config', config, '-dnsserver', '127.0.0.1:8053', '-strict=false'], {
      env: { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
    });
    await pebble.waitForOutput(/ACME directory available at/, { stream: 'any', timeoutMs: 20_000 });
    return pebble;
  };
  if (start) await run();
  return { pki, run };
}

test('--tls auto: a certificate from pebble (ACME HTTP-01 through the proxy’s port 80), stored 0600, reused after a restart, renewed ahead of expiry, never ordered per handshake', async (t) => {
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  await startBackend(web.c, 8080, 'web');

  const { pki } = await startPebble(host, VALIDITY_S);

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

/** `status -o json` certificates, with the retry fields. */
interface CertificateJson {
  hostname: string;
  state: string;
  orders?: number;
  attempts?: number;
  error?: string;
  retryAt?: string;
}

async function certificates(host: SandboxHost): Promise<CertificateJson[]> {
  return (await host.voltJson<{ certificates: CertificateJson[] }>(['ingress', 'status', '-o', 'json'])).certificates;
}

test('--tls auto while the CA is unreachable: attempts back off on the configured schedule (ingress.acme.retry_min/max), no order is placed until the CA answers, then one order and a valid certificate', async (t) => {
  const RETRY_MIN_S = 1;
  const RETRY_MAX_S = 4;
  const host = await SandboxHost.create(t, { uplink: false });
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  await startBackend(web.c, 8080, 'web');
  const { pki, run } = await startPebble(host, 3600, false);
  // The ACME settings from config.yaml this time, the backoff in seconds rather than minutes.
  fs.writeFileSync(
    path.join(host.root, 'etc/volt/config.yaml'),
    [
      'ingress:',
      '  acme:',
      '    directory_url: https://127.0.0.1:14000/dir',
      `    ca: ${pki.caCert}`,
      '    email: ops@example.com',
      `    retry_min: ${RETRY_MIN_S}`,
      `    retry_max: ${RETRY_MAX_S}`,
      '',
    ].join('\n'),
  );
  await host.voltOk(['ingress', 'create', '--name', 'auto', '--hostname', HOSTNAME, '--backend', `${web.name}:8080`, '--tls', 'auto']);
  const proxy = await startProxy(host);
  const started = Date.now();

  // Nothing answers on 14000: attempts fail, each retried after the backoff; none reaches the CA, so no order.
  const failing = await eventually(
    'a few failed attempts',
    async () => {
      const c = (await certificates(host)).find((x) => x.hostname === HOSTNAME);
      return c !== undefined && (c.attempts ?? 0) >= 3 ? c : undefined;
    },
    60_000,
  );
  t.is(failing.state, 'error');
  t.regex(failing.error ?? '', /ECONNREFUSED|connect/i);
  t.is(failing.orders, 0, 'a CA that cannot be reached gets no order');
  t.truthy(failing.retryAt);
  t.regex(proxy.stderr, /acme: order for auto\.example\.test failed \(.*\); attempt 1, next one in 1 s/);
  t.regex(proxy.stderr, /attempt 2, next one in 2 s/);
  // A TLS handshake never orders: without a certificate it simply fails.
  const early = await request(host, { url: 'https://127.0.0.1/', host: HOSTNAME, servername: HOSTNAME, insecure: true });
  t.truthy(early.error, JSON.stringify(early));

  // The CA comes up: the next scheduled attempt gets the certificate.
  const pebble = await run();
  const issued = await eventually(
    'the certificate once the CA answers',
    async () => {
      const c = (await certificates(host)).find((x) => x.hostname === HOSTNAME);
      return c?.state === 'valid' ? c : undefined;
    },
    60_000,
  );
  const elapsedS = (Date.now() - started) / 1000;
  t.is(issued.orders, 1, 'one order: the attempt that reached the CA');
  // The schedule bounds the attempts: every retry waited at least retry_min (an upper bound, not a timing check).
  t.true((issued.attempts ?? 0) >= 4, `attempts: ${issued.attempts}`);
  t.true((issued.attempts ?? 0) <= 1 + Math.ceil(elapsedS / RETRY_MIN_S), `attempts ${issued.attempts} in ${elapsedS} s`);
  const orderCounts = [...`${pebble.stdout}\n${pebble.stderr}`.matchAll(/There are now (\d+) orders in the db/g)].map((m) => Number(m[1]));
  t.deepEqual(orderCounts, [1], 'pebble saw exactly one order');

  // A client trusting pebble's root gets a valid certificate for the name; handshakes place no orders.
  const roots = await request(host, { url: 'https://127.0.0.1:15000/roots/0', ca: pki.caCert, servername: 'localhost' });
  t.is(roots.status, 200);
  const rootFile = path.join(host.workDir, 'pebble-root.pem');
  fs.writeFileSync(rootFile, roots.body ?? '');
  const https = { url: 'https://127.0.0.1/hello', host: HOSTNAME, servername: HOSTNAME, ca: rootFile };
  const many = await requests(host, https, 5);
  t.true(many.every((r) => r.status === 200 && r.tls?.authorized === true && r.tls.san === `DNS:${HOSTNAME}`), JSON.stringify(many));
  t.is(echo(t, many[0]!).headers['x-forwarded-proto'], 'https');
  const after = (await certificates(host)).find((x) => x.hostname === HOSTNAME);
  t.is(after?.orders, 1);
  t.is(after?.attempts, issued.attempts);
  t.is(after?.error, undefined);
});
