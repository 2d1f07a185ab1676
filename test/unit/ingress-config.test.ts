import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConfig } from '@volt/core/dist/config/load';
import { defaultConfig, defaultIngressConfig, LETS_ENCRYPT_DIRECTORY } from '@volt/core/dist/config/defaults';
import { describeSpecChanges, proxySpecFrom } from '@volt/core/dist/services/ingress/ingress-settings';
import { voltPaths } from '@volt/sdk';
import { isVoltError } from '@volt/sdk';

const F = '/etc/volt/config.yaml';
const paths = voltPaths({ VOLT_ROOT: '/tmp/volt-x' });

const FULL = `ingress:
  http_port: 8080
  https_port: 8443
  address: 127.0.0.1
  workers: 3
  max_connections: 500
  max_header_size: 8192
  max_headers: 50
  header_timeout: 2.5
  request_timeout: 30
  idle_timeout: 15
  drain_timeout: 0
  health:
    interval: 1
    timeout: 0.5
    failures: 3
  acme:
    directory_url: https://acme-staging-v02.api.letsencrypt.org/directory
    email: ops@example.com
    renew_before: 86400
    retry_min: 2
    retry_max: 60
`;

test('ingress: no section gives the defaults (what `volt config show` prints)', (t) => {
  const c = parseConfig('network:\n  mtu: 1500\n', F);
  t.deepEqual(c.ingress, defaultIngressConfig());
  t.deepEqual(defaultConfig().ingress, defaultIngressConfig());
  t.is(c.ingress.http_port, 80);
  t.is(c.ingress.https_port, 443);
  t.is(c.ingress.workers, 'auto');
  t.is(c.ingress.acme.directory_url, LETS_ENCRYPT_DIRECTORY);
  t.is(c.ingress.acme.email, undefined);
  t.is(c.ingress.drain_timeout, 30);
});

test('ingress: every key parses; a partial section keeps the other defaults', (t) => {
  const c = parseConfig(FULL, F).ingress;
  t.is(c.http_port, 8080);
  t.is(c.address, '127.0.0.1');
  t.is(c.workers, 3);
  t.is(c.header_timeout, 2.5);
  t.is(c.health.timeout, 0.5);
  t.is(c.acme.email, 'ops@example.com');
  t.is(c.acme.retry_min, 2);
  const partial = parseConfig('ingress:\n  https_port: 8443\n  acme:\n    email: a@example.com\n', F).ingress;
  t.is(partial.https_port, 8443);
  t.is(partial.http_port, 80);
  t.is(partial.acme.directory_url, LETS_ENCRYPT_DIRECTORY);
  t.is(partial.acme.retry_max, 3600);
  t.is(parseConfig('ingress:\n  workers: auto\n', F).ingress.workers, 'auto');
});

const bad: [string, string, RegExp][] = [
  ['port out of range', 'ingress:\n  http_port: 70000\n', /^\/etc\/volt\/config\.yaml:2:3: ingress\.http_port: 70000 is out of range \(1-65535\)$/],
  ['port not a number', 'network:\n  mtu: 1500\ningress:\n  https_port: https\n', /config\.yaml:4:3: ingress\.https_port: expected integer/],
  ['port zero', 'ingress:\n  https_port: 0\n', /config\.yaml:2:3: ingress\.https_port: 0 is out of range \(1-65535\)/],
  ['unknown key', 'ingress:\n  http_port: 80\n  htps_port: 443\n', /config\.yaml:3:3: ingress\.htps_port: unknown key "htps_port"/],
  ['unknown nested key', 'ingress:\n  acme:\n    emial: ops@example.com\n', /config\.yaml:3:5: ingress\.acme\.emial: unknown key "emial"/],
  ['same port twice', 'ingress:\n  http_port: 8080\n  https_port: 8080\n', /config\.yaml:3:3: ingress\.https_port: http_port and https_port are both 8080/],
  ['address not an IP', 'ingress:\n  address: localhost\n', /config\.yaml:2:3: ingress\.address: "localhost" is not an IP address/],
  ['workers', 'ingress:\n  workers: lots\n', /config\.yaml:2:3: ingress\.workers: must be an integer 1-64 or "auto"/],
  ['workers too many', 'ingress:\n  workers: 65\n', /ingress\.workers: must be an integer 1-64 or "auto"/],
  ['timeout zero', 'ingress:\n  header_timeout: 0\n', /config\.yaml:2:3: ingress\.header_timeout: 0 is out of range \(0\.1-3600\)/],
  ['timeout text', 'ingress:\n  idle_timeout: 5s\n', /ingress\.idle_timeout: expected number/],
  ['max_connections', 'ingress:\n  max_connections: 0\n', /ingress\.max_connections: 0 is out of range \(1-1000000\)/],
  ['health failures', 'ingress:\n  health:\n    failures: 1.5\n', /config\.yaml:3:5: ingress\.health\.failures: expected integer/],
  ['directory not https', 'ingress:\n  acme:\n    directory_url: http://ca.example/dir\n', /config\.yaml:3:5: ingress\.acme\.directory_url: must be an https URL/],
  ['directory not a URL', 'ingress:\n  acme:\n    directory_url: letsencrypt\n', /ingress\.acme\.directory_url: "letsencrypt" is not a URL/],
  ['email', 'ingress:\n  acme:\n    email: ops\n', /config\.yaml:3:5: ingress\.acme\.email: "ops" is not an e-mail address/],
  ['retry order', 'ingress:\n  acme:\n    retry_min: 60\n    retry_max: 10\n', /config\.yaml:4:5: ingress\.acme\.retry_max: retry_max \(10 s\) is below retry_min \(60 s\)/],
  ['not a mapping', 'ingress: 8080\n', /config\.yaml:1:1: ingress: expected object/],
];

for (const [title, text, message] of bad) {
  test(`ingress config error: ${title}`, (t) => {
    const e = t.throws(() => parseConfig(text, F)) as Error & { code: string; exitCode: number };
    t.regex(e.message, message);
    t.is(e.exitCode, 2);
    t.is(e.code, 'E_CONFIG_INVALID');
  });
}

test('serve settings: flag > config > default', (t) => {
  const cfg = parseConfig(FULL, F).ingress;
  const fromConfig = proxySpecFrom({}, cfg, paths, '/');
  t.is(fromConfig.httpPort, 8080);
  t.is(fromConfig.httpsPort, 8443);
  t.is(fromConfig.address, '127.0.0.1');
  t.is(fromConfig.workers, 3);
  t.is(fromConfig.limits.maxConnections, 500);
  t.is(fromConfig.limits.headerTimeoutMs, 2500);
  t.is(fromConfig.limits.idleTimeoutMs, 15_000);
  t.is(fromConfig.drainMs, 0);
  t.is(fromConfig.health.timeoutMs, 500);
  t.is(fromConfig.health.failures, 3);
  t.is(fromConfig.acme.email, 'ops@example.com');
  t.is(fromConfig.acme.directoryUrl, 'https://acme-staging-v02.api.letsencrypt.org/directory');
  t.is(fromConfig.acme.renewBeforeMs, 86_400_000);
  t.deepEqual([fromConfig.acme.retryMinMs, fromConfig.acme.retryMaxMs], [2000, 60_000]);

  const flags = proxySpecFrom({ httpPort: 9080, workers: 1, headerTimeout: '7', acmeEmail: 'flag@example.com', acmeRetryMin: '0.5' }, cfg, paths, '/');
  t.is(flags.httpPort, 9080, 'a flag wins over the config');
  t.is(flags.httpsPort, 8443, 'what no flag sets comes from the config');
  t.is(flags.workers, 1);
  t.is(flags.limits.headerTimeoutMs, 7000);
  t.is(flags.acme.email, 'flag@example.com');
  t.is(flags.acme.retryMinMs, 500);

  const defaults = proxySpecFrom({}, defaultIngressConfig(), paths, '/');
  t.is(defaults.httpPort, 80);
  t.is(defaults.httpsPort, 443);
  t.is(defaults.address, '0.0.0.0');
  t.true(defaults.workers >= 1, 'auto: one per CPU');
  t.is(defaults.drainMs, 30_000);
  t.deepEqual([defaults.acme.retryMinMs, defaults.acme.retryMaxMs], [30_000, 3_600_000]);
  t.is(defaults.acme.directoryUrl, LETS_ENCRYPT_DIRECTORY);
});

test('serve settings: a conflict between a flag and the config names both; the config CA file is relative to the config file', (t) => {
  const cfg = parseConfig('ingress:\n  https_port: 8443\n', F).ingress;
  const e = t.throws(() => proxySpecFrom({ httpPort: 8443 }, cfg, paths, '/', F));
  t.true(isVoltError(e) && e.exitCode === 2);
  t.regex(e?.message ?? '', /--http-port and ingress\.https_port \(\/etc\/volt\/config\.yaml\) are both 8443/);
  const r = t.throws(() => proxySpecFrom({ acmeRetryMin: '100', acmeRetryMax: '10' }, defaultIngressConfig(), paths, '/'));
  t.regex(r?.message ?? '', /ACME retry maximum \(10 s\) is below the minimum \(100 s\)/);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-ingress-config-'));
  try {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    fs.writeFileSync(path.join(dir, 'ca.pem'), pem);
    const file = path.join(dir, 'config.yaml');
    const withCa = parseConfig('ingress:\n  acme:\n    ca: ca.pem\n', file).ingress;
    t.is(proxySpecFrom({}, withCa, paths, '/', file).acme.caPem, pem);
    const missing = parseConfig('ingress:\n  acme:\n    ca: nope.pem\n', file).ingress;
    const m = t.throws(() => proxySpecFrom({}, missing, paths, '/', file));
    t.regex(m?.message ?? '', /cannot read ingress\.acme\.ca \(.*config\.yaml\) .*nope\.pem: no such file/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('describeSpecChanges: what a reload would change, in words; nothing for an identical spec', (t) => {
  const a = proxySpecFrom({ workers: 2 }, defaultIngressConfig(), paths, '/');
  t.deepEqual(describeSpecChanges(a, a), []);
  t.deepEqual(describeSpecChanges(a, proxySpecFrom({ workers: 2, httpPort: 8080 }, defaultIngressConfig(), paths, '/')), ['http listener 0.0.0.0:80 → 0.0.0.0:8080']);
  const b = proxySpecFrom({ workers: 3, address: '::', maxConnections: 5, drainTimeout: '1' }, defaultIngressConfig(), paths, '/');
  t.deepEqual(describeSpecChanges(a, b), [
    'http listener 0.0.0.0:80 → [::]:80',
    'https listener 0.0.0.0:443 → [::]:443',
    'workers 2 → 3',
    'maxConnections 10000 → 5',
    'drain timeout 30 s → 1 s',
  ]);
});
