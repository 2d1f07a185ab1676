import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxHost, UPLINK, tcpProbe } from '../harness';
import { DNS_STUB_JS, echo, eventually, makeCa, makeCert, request, startBackend, startProxy, status, workload } from '../fixtures/ingress/ingress-helpers';

/*
 * The guide's ingress, as a user meets it on day one: the default host policy
 * (host_input: drop, only tcp/22 open), the guide's `web` and `secure-web`
 * routes on one hostname, and a real ACME CA (pebble) on another machine —
 * the "internet" namespace — validating HTTP-01 against the host's uplink
 * address, not loopback. `volt ingress serve` opens 80/443 in volt's input
 * chain while it serves and closes them when it stops.
 */

const HOSTNAME = 'app.example.com';
const HOST_IP = UPLINK.hostAddress;
const OUT_IP = UPLINK.outsideAddress;

interface RuleJson {
  name: string;
  dest: string;
  ports: string[];
  action: string;
}

async function rulesOf(host: SandboxHost): Promise<RuleJson[]> {
  return (await host.voltJson<{ rules: RuleJson[] }>(['net', 'firewall', 'list', '-o', 'json'])).rules;
}

test("guide's web + secure-web with the default host policy: serve opens 80/443, pebble from the internet issues the certificate, stop closes them", async (t) => {
  const host = await SandboxHost.create(t);
  const out = host.outside!;
  await host.voltOk(['init', '--no-units']);
  await host.voltOk(['net', 'create', '--name', 'backend', '--subnet', '10.30.0.0/24']);
  const web = await workload(host, 'backend', 'web');
  await startBackend(web.c, 8080, 'web');

  // Before any proxy: the default policy drops port 80 from the internet.
  t.false(await tcpProbe(host, out, HOST_IP, { port: 80, timeoutMs: 1500 }), 'host_input: drop closes tcp/80');

  // The guide's two routes, as written (web first, then secure-web on the same hostname).
  await host.voltOk(['ingress', 'create', '--name', 'web', '--hostname', HOSTNAME, '--backend', `${web.name}:8080`]);
  const secure = await host.voltOk(['ingress', 'create', '--name', 'secure-web', '--hostname', HOSTNAME, '--backend', `${web.name}:8080`, '--tls', 'auto']);
  t.regex(secure.stdout + secure.stderr, /route "web" \(HTTP\) and route "secure-web" \(--tls auto\) both serve app\.example\.com: .*HTTP requests are redirected to HTTPS/);

  // Pebble in the internet namespace; its validation DNS points every name at the host's uplink address.
  const pki = await makeCa(path.join(host.workDir, 'pebble-pki'), 'pebble TLS CA');
  const tlsCert = await makeCert(pki, 'pebble', [OUT_IP]);
  const config = path.join(host.workDir, 'pebble.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `${OUT_IP}:14000`,
        managementListenAddress: `${OUT_IP}:15000`,
        certificate: tlsCert.cert,
        privateKey: tlsCert.key,
        httpPort: 80,
        tlsPort: 5001,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  const stub = out.spawn(process.execPath, [DNS_STUB_JS, '127.0.0.1', '8053', HOST_IP]);
  await stub.waitForOutput(/^LISTENING/m);
  const pebble = out.spawn('pebble', ['-config', config, '-dnsserver', '127.0.0.1:8053', '-strict=false'], { env: { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' } });
  await pebble.waitForOutput(/ACME directory available at/, { stream: 'any', timeoutMs: 20_000 });

  // Default ports, default policy: the proxy opens exactly its two ports and says so.
  const proxy = await startProxy(host, { args: ['--acme-directory', `https://${OUT_IP}:14000/dir`, '--acme-ca', pki.caCert, '--acme-email', 'ops@example.com'] });
  t.regex(proxy.stdout, /volt ingress: opened tcp\/80, tcp\/443 in volt's host firewall \(rules ingress-tcp-80, ingress-tcp-443\) while the proxy serves/);
  const rules = await rulesOf(host);
  t.deepEqual(
    rules.map((r) => [r.name, r.dest, r.ports.join(','), r.action]),
    [
      ['ingress-tcp-80', 'host', '80', 'accept'],
      ['ingress-tcp-443', 'host', '443', 'accept'],
    ],
  );

  const issued = await eventually(
    'the certificate to be issued through HTTP-01 from the internet namespace',
    async () => {
      const c = (await status(host)).certificates.find((x) => x.hostname === HOSTNAME);
      return c?.state === 'valid' ? c : undefined;
    },
    90_000,
  );
  t.is(issued.source, 'acme');

  // A client on the internet: HTTP redirects to HTTPS (the `web` route), HTTPS is served with pebble's certificate.
  const redirect = await request(out, { url: `http://${HOST_IP}/hello`, host: HOSTNAME });
  t.is(redirect.status, 308, JSON.stringify(redirect));
  t.is(redirect.headers?.location, `https://${HOSTNAME}/hello`);
  const roots = await request(out, { url: `https://${OUT_IP}:15000/roots/0`, ca: pki.caCert, servername: OUT_IP });
  t.is(roots.status, 200, JSON.stringify(roots));
  const rootFile = path.join(host.workDir, 'pebble-root.pem');
  fs.writeFileSync(rootFile, roots.body ?? '');
  const r = await request(out, { url: `https://${HOST_IP}/hello`, host: HOSTNAME, servername: HOSTNAME, ca: rootFile });
  t.is(r.status, 200, JSON.stringify(r));
  t.true(r.tls?.authorized, "verified against pebble's root");
  t.regex(r.tls?.issuer ?? '', /^Pebble Intermediate CA/);
  t.is(echo(t, r).backend, 'web');

  // Stop: the rules go, and tcp/80 is closed again from the internet (a listener on the host is not reachable).
  const stopped = await proxy.stop('SIGTERM', 40_000);
  t.is(stopped.code, 0, stopped.stderr);
  t.deepEqual(await rulesOf(host), []);
  t.false(await tcpProbe(host, out, HOST_IP, { port: 80, timeoutMs: 1500 }), 'closed after the proxy stopped');
  t.true(await tcpProbe(host, host, '127.0.0.1', { port: 80, timeoutMs: 1500 }), 'the listener itself works (loopback)');
  await pebble.stop();
  await stub.stop();
});

test('--no-open-ports changes nothing and prints the command that opens them; host_allow ports are not touched; a reload moves the rules with the ports', async (t) => {
  const host = await SandboxHost.create(t, { config: 'network:\n  firewall:\n    host_input: drop\n    host_allow: [tcp/22, tcp/443]\n' });
  await host.voltOk(['init', '--no-units']);
  const p1 = await startProxy(host, { args: ['--no-open-ports'] });
  t.regex(p1.stdout, /warning: volt's host firewall drops new connections to tcp\/80 .*volt net firewall add --name ingress --source any --dest host --port 80 --proto tcp --action accept/);
  t.deepEqual(await rulesOf(host), []);
  await p1.stop();
  const p2 = await startProxy(host);
  t.regex(p2.stdout, /opened tcp\/80 in volt's host firewall \(rule ingress-tcp-80\)/, 'only the port host_allow does not list');
  t.deepEqual((await rulesOf(host)).map((r) => r.name), ['ingress-tcp-80']);
  await p2.stop();
  t.deepEqual(await rulesOf(host), []);

  // A reload that moves a listener moves the rule with it; the port in both sets keeps its rule.
  const cfg = (http: number): string => `network:\n  firewall:\n    host_input: drop\n    host_allow: [tcp/22]\ningress:\n  http_port: ${http}\n  https_port: 8443\n`;
  fs.writeFileSync(path.join(host.root, 'etc/volt/config.yaml'), cfg(8080));
  const p3 = host.spawnVolt(['ingress', 'serve', '--workers', '1']);
  await p3.waitForOutput(/^volt ingress: serving /m, { timeoutMs: 30_000 });
  t.deepEqual((await rulesOf(host)).map((r) => r.name), ['ingress-tcp-8080', 'ingress-tcp-8443']);
  fs.writeFileSync(path.join(host.root, 'etc/volt/config.yaml'), cfg(8081));
  await host.voltOk(['ingress', 'reload']);
  t.deepEqual((await rulesOf(host)).map((r) => r.name).sort(), ['ingress-tcp-8081', 'ingress-tcp-8443']);
  await p3.stop();
  t.deepEqual(await rulesOf(host), []);
});
