import * as fs from 'node:fs';
import * as net from 'node:net';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { UserInputError } from '@volt/sdk';
import type { IngressTlsMode } from '@volt/sdk';

/**
 * Parsing of everything a user gives `volt ingress create`: each function
 * takes the raw text, returns a normalised value or throws a UserInputError
 * whose message reads `<what>: <why>`.
 */

const ROUTE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const WORKLOAD_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export const TLS_MODES: readonly IngressTlsMode[] = ['none', 'auto', 'manual', 'passthrough'];
export const DEFAULT_TIMEOUT_SECONDS = 30;
export const MAX_TIMEOUT_SECONDS = 86_400;

function bad(what: string, why: string, code: string, suggestions: string[] = []): UserInputError {
  return new UserInputError(`${what}: ${why}`, { code, suggestions });
}

export function parseRouteName(raw: string, what: string): string {
  if (!ROUTE_NAME.test(raw)) {
    throw bad(what, `route name "${raw}" is not valid: use 1-63 letters, digits, ".", "-", "_", starting with a letter or digit`, 'E_INGRESS_NAME_INVALID');
  }
  return raw;
}

/**
 * A DNS host name (RFC 1123 labels, at most 253 characters), lower-cased and
 * without a trailing dot; "*.example.com" (a wildcard for exactly one label) is allowed.
 */
export function parseHostname(raw: string, what: string): string {
  const example = ['e.g. app.example.com, or *.example.com for every name one label below example.com'];
  let h = raw.trim().toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h === '') throw bad(what, 'hostname is empty', 'E_INGRESS_HOSTNAME_INVALID', example);
  if (net.isIP(h) !== 0 || (h.startsWith('[') && h.endsWith(']'))) {
    throw bad(what, `hostname "${raw}" is an IP address; routes match the Host header by name`, 'E_INGRESS_HOSTNAME_INVALID', example);
  }
  if (h.includes(':') || h.includes('/')) {
    throw bad(what, `hostname "${raw}" must not contain a port or a path`, 'E_INGRESS_HOSTNAME_INVALID', [
      'give the path with --path; the proxy listens on --http-port/--https-port of `volt ingress serve`',
    ]);
  }
  if (h.length > 253) throw bad(what, `hostname "${raw}" is longer than 253 characters`, 'E_INGRESS_HOSTNAME_INVALID');
  const labels = h.split('.');
  const wildcard = labels[0] === '*';
  const rest = wildcard ? labels.slice(1) : labels;
  if (wildcard && rest.length < 2) {
    throw bad(what, `hostname "${raw}": a wildcard needs at least two labels after "*."`, 'E_INGRESS_HOSTNAME_INVALID', example);
  }
  for (const label of rest) {
    if (!LABEL.test(label)) {
      const why =
        label === ''
          ? 'has an empty label (two dots in a row, or a leading dot)'
          : label.length > 63
            ? `has a label longer than 63 characters ("${label.slice(0, 20)}…")`
            : `has an invalid label "${label}" (letters, digits and "-" only, not at either end)`;
      throw bad(what, `hostname "${raw}" ${why}`, 'E_INGRESS_HOSTNAME_INVALID', example);
    }
  }
  if (/^\d+$/.test(rest[rest.length - 1]!)) {
    throw bad(what, `hostname "${raw}" ends in a numeric label`, 'E_INGRESS_HOSTNAME_INVALID', example);
  }
  return h;
}

/** A path prefix: starts with "/", no query, fragment, whitespace or "..", no trailing slash (except "/"). */
export function parsePathPrefix(raw: string, what: string): string {
  if (!raw.startsWith('/')) {
    throw bad(what, `path "${raw}" must start with "/"`, 'E_INGRESS_PATH_INVALID', [`did you mean --path /${raw.replace(/^\/*/, '')}?`]);
  }
  if (raw.length > 1024) throw bad(what, 'path is longer than 1024 characters', 'E_INGRESS_PATH_INVALID');
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f?#]/.test(raw)) {
    throw bad(what, `path "${raw}" must not contain spaces, control characters, "?" or "#"`, 'E_INGRESS_PATH_INVALID', [
      'a route matches a path prefix; the query string is forwarded unchanged',
    ]);
  }
  if (raw.includes('//') || raw.split('/').some((s) => s === '.' || s === '..')) {
    throw bad(what, `path "${raw}" has an empty, "." or ".." segment`, 'E_INGRESS_PATH_INVALID');
  }
  return raw.length > 1 && raw.endsWith('/') ? raw.slice(0, -1) : raw;
}

export interface BackendSpec {
  target: string;
  port: number;
}

/** "web:8080", "10.30.0.5:8080" or "[fd00::5]:8080". */
export function parseBackend(raw: string, what: string): BackendSpec {
  const example = ['write WORKLOAD:PORT, e.g. --backend web:8080 (or an address: --backend 10.30.0.5:8080)'];
  let target: string;
  let portText: string;
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(raw);
  if (v6) {
    target = v6[1]!;
    portText = v6[2]!;
    if (net.isIPv6(target) === false) throw bad(what, `backend "${raw}": "${target}" is not an IPv6 address`, 'E_INGRESS_BACKEND_INVALID', example);
  } else {
    const i = raw.lastIndexOf(':');
    if (i < 0) throw bad(what, `backend "${raw}" has no port`, 'E_INGRESS_BACKEND_INVALID', example);
    target = raw.slice(0, i);
    portText = raw.slice(i + 1);
    if (target.includes(':')) {
      throw bad(what, `backend "${raw}": write an IPv6 address in brackets`, 'E_INGRESS_BACKEND_INVALID', ['e.g. --backend [fd00::5]:8080']);
    }
    if (target === '') throw bad(what, `backend "${raw}" has no workload before the port`, 'E_INGRESS_BACKEND_INVALID', example);
    if (net.isIPv4(target) === false && !WORKLOAD_NAME.test(target)) {
      throw bad(what, `backend "${raw}": "${target}" is neither a workload name nor an IP address`, 'E_INGRESS_BACKEND_INVALID', example);
    }
  }
  if (portText === '') throw bad(what, `backend "${raw}" has no port`, 'E_INGRESS_BACKEND_INVALID', example);
  if (!/^\d+$/.test(portText)) throw bad(what, `backend "${raw}": port "${portText}" is not a number`, 'E_INGRESS_BACKEND_INVALID', example);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw bad(what, `backend "${raw}": port ${portText} is out of range (1-65535)`, 'E_INGRESS_PORT_RANGE');
  return { target, port };
}

/** Seconds, > 0 and ≤ one day; decimals allowed ("0.5"). */
export function parseTimeout(raw: string, what: string): number {
  const s = raw.trim();
  if (!/^\d+(\.\d+)?$/.test(s)) throw bad(what, `timeout "${raw}" is not a number of seconds`, 'E_INGRESS_TIMEOUT_INVALID', ['e.g. --timeout 60']);
  const n = Number(s);
  if (!(n > 0) || n > MAX_TIMEOUT_SECONDS) {
    throw bad(what, `timeout ${raw} s is out of range (more than 0, at most ${MAX_TIMEOUT_SECONDS})`, 'E_INGRESS_TIMEOUT_INVALID');
  }
  return n;
}

export function parseTlsMode(raw: string, what: string): IngressTlsMode {
  const m = TLS_MODES.find((x) => x === raw);
  if (m === undefined) throw bad(what, `tls mode "${raw}" is not one of ${TLS_MODES.join(', ')}`, 'E_INGRESS_TLS_INVALID');
  return m;
}

/** A port for a listener: integer 1-65535. */
export function parsePort(raw: number, what: string, flag: string): number {
  if (!Number.isInteger(raw) || raw < 1 || raw > 65535) throw bad(what, `${flag} ${raw} is out of range (1-65535)`, 'E_INGRESS_PORT_RANGE');
  return raw;
}

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent is not a directory',
  ELOOP: 'too many symbolic links',
};

/** Read a file given on the command line; errno becomes words. */
export function readUserFile(file: string, what: string, flag: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e: unknown) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    throw bad(what, `cannot read ${flag} ${file}: ${ERRNO_WORDS[code] ?? (code !== '' ? code : String(e))}`, 'E_INGRESS_FILE_UNREADABLE');
  }
}

export interface CertificateFacts {
  subject: string;
  notBefore: Date;
  notAfter: Date;
  fingerprint256: string;
}

/**
 * A certificate chain and its key (PEM) that belong together, cover
 * `hostname` and are valid at `now`. Throws a UserInputError that says which
 * of these fails.
 */
export function checkCertificatePair(certPem: string, keyPem: string, hostname: string, what: string, files: { cert: string; key: string }, now: Date = new Date()): CertificateFacts {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (e: unknown) {
    void e;
    throw bad(what, `${files.cert} is not a PEM certificate`, 'E_INGRESS_CERT_INVALID', ['give the certificate (chain) in PEM form: -----BEGIN CERTIFICATE-----']);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (e: unknown) {
    void e;
    throw bad(what, `${files.key} is not an unencrypted PEM private key`, 'E_INGRESS_KEY_INVALID', [
      'give the private key in PEM form (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA/EC PRIVATE KEY-----), without a passphrase',
    ]);
  }
  if (!cert.checkPrivateKey(key)) {
    throw bad(what, `the key in ${files.key} does not belong to the certificate in ${files.cert}`, 'E_INGRESS_KEY_MISMATCH', [
      `compare: openssl x509 -noout -pubkey -in ${files.cert} | sha256sum; openssl pkey -pubout -in ${files.key} | sha256sum`,
    ]);
  }
  const notAfter = new Date(cert.validTo);
  const notBefore = new Date(cert.validFrom);
  if (notAfter.getTime() <= now.getTime()) {
    throw bad(what, `the certificate in ${files.cert} expired on ${notAfter.toISOString()}`, 'E_INGRESS_CERT_EXPIRED', ['renew it, or use --tls auto']);
  }
  if (notBefore.getTime() > now.getTime()) {
    throw bad(what, `the certificate in ${files.cert} is not valid before ${notBefore.toISOString()}`, 'E_INGRESS_CERT_NOT_YET_VALID', ['check the clock of this host']);
  }
  // A wildcard route is checked with a sample name one label below it.
  const probe = hostname.startsWith('*.') ? `volt-check${hostname.slice(1)}` : hostname;
  if (cert.checkHost(probe) === undefined) {
    throw bad(what, `the certificate in ${files.cert} does not cover ${hostname} (${describeNames(cert)})`, 'E_INGRESS_CERT_HOST', [
      'give a certificate whose subjectAltName includes the hostname',
    ]);
  }
  return { subject: cert.subject.replace(/\n/g, ', '), notBefore, notAfter, fingerprint256: cert.fingerprint256 };
}

function describeNames(cert: X509Certificate): string {
  const alt = cert.subjectAltName;
  if (alt !== undefined && alt !== '') return `it names ${alt}`;
  return `its subject is ${cert.subject.replace(/\n/g, ', ')}`;
}
