import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  checkCertificatePair,
  parseBackend,
  parseHostname,
  parsePathPrefix,
  parseRouteName,
  parseTimeout,
  parseTlsMode,
  readUserFile,
} from '@volt/core/dist/services/ingress/ingress-validate';
import { isVoltError } from '@volt/sdk';

const W = 'create route "x"';

function refusal(fn: () => unknown): { code: string; message: string; exitCode: number } | undefined {
  try {
    fn();
    return undefined;
  } catch (e: unknown) {
    if (!isVoltError(e)) throw e;
    return { code: e.code, message: e.message, exitCode: e.exitCode };
  }
}

const hostnames: [string, string | RegExp][] = [
  ['app.example.com', 'app.example.com'],
  ['APP.Example.COM.', 'app.example.com'],
  ['localhost', 'localhost'],
  ['*.apps.example.com', '*.apps.example.com'],
  ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
  ['', /hostname is empty/],
  ['app..example.com', /empty label/],
  ['.example.com', /empty label/],
  ['-app.example.com', /invalid label "-app"/],
  ['app_1.example.com', /invalid label "app_1"/],
  ['app.example.com:8080', /must not contain a port or a path/],
  ['app.example.com/v1', /must not contain a port or a path/],
  ['10.0.0.1', /is an IP address/],
  ['[::1]', /is an IP address|must not contain/],
  ['*.com', /wildcard needs at least two labels/],
  ['a.*.example.com', /invalid label "\*"/],
  ['example.123', /numeric label/],
  [`${'a'.repeat(64)}.example.com`, /longer than 63/],
  [`${'abcdefghi.'.repeat(26)}com`, /longer than 253/],
];
for (const [raw, want] of hostnames) {
  test(`hostname ${JSON.stringify(raw)}`, (t) => {
    if (typeof want === 'string') t.is(parseHostname(raw, W), want);
    else {
      const r = refusal(() => parseHostname(raw, W));
      t.is(r?.code, 'E_INGRESS_HOSTNAME_INVALID');
      t.is(r?.exitCode, 2);
      t.regex(r?.message ?? '', want);
      t.true(r?.message.startsWith(`${W}: `), 'messages read "what we did: why"');
    }
  });
}

const paths: [string, string | RegExp][] = [
  ['/', '/'],
  ['/v1', '/v1'],
  ['/v1/', '/v1'],
  ['/api/v1.2/x-y', '/api/v1.2/x-y'],
  ['v1', /must start with "\/"/],
  ['', /must start with "\/"/],
  ['/v1?x=1', /must not contain/],
  ['/v 1', /must not contain/],
  ['/a//b', /empty, "." or ".." segment/],
  ['/a/../b', /empty, "." or ".." segment/],
];
for (const [raw, want] of paths) {
  test(`path ${JSON.stringify(raw)}`, (t) => {
    if (typeof want === 'string') t.is(parsePathPrefix(raw, W), want);
    else {
      const r = refusal(() => parsePathPrefix(raw, W));
      t.is(r?.code, 'E_INGRESS_PATH_INVALID');
      t.regex(r?.message ?? '', want);
    }
  });
}

const backends: [string, { target: string; port: number } | [string, RegExp]][] = [
  ['web:8080', { target: 'web', port: 8080 }],
  ['vt-1-2-c1-web:80', { target: 'vt-1-2-c1-web', port: 80 }],
  ['10.30.0.5:3000', { target: '10.30.0.5', port: 3000 }],
  ['[fd00::5]:443', { target: 'fd00::5', port: 443 }],
  ['web', ['E_INGRESS_BACKEND_INVALID', /has no port/]],
  ['web:', ['E_INGRESS_BACKEND_INVALID', /has no port/]],
  [':8080', ['E_INGRESS_BACKEND_INVALID', /no workload before the port/]],
  ['web:http', ['E_INGRESS_BACKEND_INVALID', /port "http" is not a number/]],
  ['web:0', ['E_INGRESS_PORT_RANGE', /port 0 is out of range \(1-65535\)/]],
  ['web:65536', ['E_INGRESS_PORT_RANGE', /out of range/]],
  ['fd00::5:443', ['E_INGRESS_BACKEND_INVALID', /IPv6 address in brackets/]],
  ['[nope]:443', ['E_INGRESS_BACKEND_INVALID', /not an IPv6 address/]],
  ['we b:80', ['E_INGRESS_BACKEND_INVALID', /neither a workload name nor an IP address/]],
];
for (const [raw, want] of backends) {
  test(`backend ${JSON.stringify(raw)}`, (t) => {
    if (!Array.isArray(want)) t.deepEqual(parseBackend(raw, W), want);
    else {
      const r = refusal(() => parseBackend(raw, W));
      t.is(r?.code, want[0]);
      t.regex(r?.message ?? '', want[1]);
    }
  });
}

test('timeouts, tls modes, names', (t) => {
  t.is(parseTimeout('30', W), 30);
  t.is(parseTimeout('0.5', W), 0.5);
  for (const bad of ['0', '-1', 'abc', '1e3', '86401', '']) t.is(refusal(() => parseTimeout(bad, W))?.code, 'E_INGRESS_TIMEOUT_INVALID', bad);
  t.is(parseTlsMode('passthrough', W), 'passthrough');
  t.regex(refusal(() => parseTlsMode('on', W))?.message ?? '', /"on" is not one of none, auto, manual, passthrough/);
  t.is(parseRouteName('web-1', W), 'web-1');
  t.is(refusal(() => parseRouteName('-web', W))?.code, 'E_INGRESS_NAME_INVALID');
  t.is(refusal(() => parseRouteName('a/b', W))?.code, 'E_INGRESS_NAME_INVALID');
});

test('unreadable files are named with errno in words', (t) => {
  const r = refusal(() => readUserFile('/nonexistent/volt-cert.pem', W, '--cert'));
  t.is(r?.code, 'E_INGRESS_FILE_UNREADABLE');
  t.is(r?.message, `${W}: cannot read --cert /nonexistent/volt-cert.pem: no such file`);
  t.regex(refusal(() => readUserFile(os.tmpdir(), W, '--key'))?.message ?? '', /is a directory/);
});

/** Certificates made by openssl, in a temp dir removed afterwards. */
function pki(t: import('ava').ExecutionContext): { dir: string; cert(name: string, sans: string[]): { cert: string; key: string } } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'volt-ingress-unit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    cert(name, sans) {
      const key = path.join(dir, `${name}.key`);
      const cert = path.join(dir, `${name}.pem`);
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
        '-days', '2', '-subj', `/CN=${sans[0]}`, '-addext', `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}`,
      ], { stdio: 'ignore' });
      return { cert: fs.readFileSync(cert, 'utf8'), key: fs.readFileSync(key, 'utf8') };
    },
  };
}

test('certificate pairs: key must match, be valid now, and cover the hostname', (t) => {
  const p = pki(t);
  const a = p.cert('a', ['a.example.com']);
  const b = p.cert('b', ['b.example.com']);
  const w = p.cert('w', ['*.apps.example.com']);
  const files = { cert: '/c.pem', key: '/c.key' };
  const facts = checkCertificatePair(a.cert, a.key, 'a.example.com', W, files);
  t.true(facts.notAfter.getTime() > Date.now());
  t.regex(facts.subject, /CN=a\.example\.com/);
  t.notThrows(() => checkCertificatePair(w.cert, w.key, '*.apps.example.com', W, files), 'a wildcard route with a wildcard certificate');
  t.notThrows(() => checkCertificatePair(w.cert, w.key, 'x.apps.example.com', W, files));

  const mismatch = refusal(() => checkCertificatePair(a.cert, b.key, 'a.example.com', W, files));
  t.is(mismatch?.code, 'E_INGRESS_KEY_MISMATCH');
  t.is(mismatch?.message, `${W}: the key in /c.key does not belong to the certificate in /c.pem`);

  const expired = refusal(() => checkCertificatePair(a.cert, a.key, 'a.example.com', W, files, new Date(Date.now() + 10 * 86_400_000)));
  t.is(expired?.code, 'E_INGRESS_CERT_EXPIRED');
  t.regex(expired?.message ?? '', /expired on \d{4}-/);

  const early = refusal(() => checkCertificatePair(a.cert, a.key, 'a.example.com', W, files, new Date(Date.now() - 10 * 86_400_000)));
  t.is(early?.code, 'E_INGRESS_CERT_NOT_YET_VALID');

  const other = refusal(() => checkCertificatePair(a.cert, a.key, 'c.example.com', W, files));
  t.is(other?.code, 'E_INGRESS_CERT_HOST');
  t.regex(other?.message ?? '', /does not cover c\.example\.com \(it names DNS:a\.example\.com\)/);

  t.is(refusal(() => checkCertificatePair('junk', a.key, 'a.example.com', W, files))?.code, 'E_INGRESS_CERT_INVALID');
  t.is(refusal(() => checkCertificatePair(a.cert, 'junk', 'a.example.com', W, files))?.code, 'E_INGRESS_KEY_INVALID');
  t.is(refusal(() => checkCertificatePair(a.key, a.cert, 'a.example.com', W, files))?.code, 'E_INGRESS_CERT_INVALID', 'swapped files');
});
