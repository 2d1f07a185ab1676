import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserInputError } from '@volt/sdk';
import type { VoltPaths } from '@volt/sdk';
import type { IngressProxySpec } from '@volt/sdk';
import { INGRESS_RANGES as R, LETS_ENCRYPT_DIRECTORY, type IngressConfig } from '../../config/defaults';
import { readUserFile } from './ingress-validate';

export { LETS_ENCRYPT_DIRECTORY };

/**
 * `volt ingress serve` flags as given (or their VOLT_* environment
 * variables); undefined when neither is set, so the `ingress:` section of
 * config.yaml (then the default) applies. Times are strings of seconds.
 */
export interface ServeInput {
  httpPort?: number;
  httpsPort?: number;
  address?: string;
  workers?: number;
  acmeDirectory?: string;
  acmeEmail?: string;
  acmeCa?: string;
  acmeRenewBefore?: string;
  acmeRetryMin?: string;
  acmeRetryMax?: string;
  maxConnections?: number;
  maxHeaderSize?: number;
  maxHeaders?: number;
  headerTimeout?: string;
  requestTimeout?: string;
  idleTimeout?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthFailures?: number;
  drainTimeout?: string;
}

const WHAT = 'start the ingress proxy';

/** Where a value came from, for messages: a flag, or a key of config.yaml. */
type Source = { flag: string } | { key: string };

/**
 * Settings merged flag > config > default. Config values were checked when
 * config.yaml was parsed (with file:line:col); flags are checked here.
 */
class Merge {
  constructor(
    private readonly input: ServeInput,
    private readonly cfg: IngressConfig,
    private readonly configFile: string,
  ) {}

  label(s: Source): string {
    return 'flag' in s ? s.flag : `ingress.${s.key} (${this.configFile})`;
  }

  /** An integer: the flag's, checked against `range`, else the config's. */
  count<K extends keyof ServeInput>(k: K, flag: string, fromConfig: number, range: readonly [number, number]): { value: number; source: Source } {
    const raw = this.input[k];
    if (raw === undefined) return { value: fromConfig, source: { key: flag.slice(2).replace(/-/g, '_') } };
    const n = raw as number;
    if (!Number.isInteger(n) || n < range[0] || n > range[1]) {
      throw new UserInputError(`${WHAT}: ${flag} ${n} is out of range (${range[0]}-${range[1]})`, { code: 'E_INGRESS_FLAGS' });
    }
    return { value: n, source: { flag } };
  }

  /** Seconds → ms: the flag's text, checked against `range`, else the config's number. */
  seconds<K extends keyof ServeInput>(k: K, flag: string, fromConfig: number, range: readonly [number, number]): number {
    const raw = this.input[k];
    if (raw === undefined) return Math.round(fromConfig * 1000);
    const s = String(raw).trim();
    if (!/^\d+(\.\d+)?$/.test(s)) throw new UserInputError(`${WHAT}: ${flag} "${String(raw)}" is not a number of seconds`, { code: 'E_INGRESS_FLAGS' });
    const n = Number(s);
    if (n < range[0] || n > range[1]) throw new UserInputError(`${WHAT}: ${flag} ${s} is out of range (${range[0]}-${range[1]} s)`, { code: 'E_INGRESS_FLAGS' });
    return Math.round(n * 1000);
  }
}

/**
 * The driver's spec from flags over the `ingress:` section of config.yaml
 * over the defaults, every value checked once. `configFile` names the file
 * in messages (and anchors a relative `ingress.acme.ca`).
 */
export function proxySpecFrom(input: ServeInput, cfg: IngressConfig, paths: VoltPaths, cwd: string, configFile: string = paths.configFile): IngressProxySpec {
  const m = new Merge(input, cfg, configFile);
  const http = m.count('httpPort', '--http-port', cfg.http_port, R.port);
  const https = m.count('httpsPort', '--https-port', cfg.https_port, R.port);
  if (http.value === https.value) {
    throw new UserInputError(`${WHAT}: ${m.label(http.source)} and ${m.label(https.source)} are both ${http.value}`, {
      code: 'E_INGRESS_FLAGS',
      suggestions: ['HTTP and HTTPS need a port each'],
    });
  }
  const address = input.address ?? cfg.address;
  if (net.isIP(address) === 0) {
    throw new UserInputError(`${WHAT}: --address "${address}" is not an IP address`, { code: 'E_INGRESS_FLAGS', suggestions: ['e.g. 0.0.0.0, ::, 127.0.0.1'] });
  }
  const directory = input.acmeDirectory ?? cfg.acme.directory_url;
  const dirLabel = input.acmeDirectory !== undefined ? '--acme-directory' : m.label({ key: 'acme.directory_url' });
  let directoryUrl: URL;
  try {
    directoryUrl = new URL(directory);
  } catch (e: unknown) {
    void e;
    throw new UserInputError(`${WHAT}: ${dirLabel} "${directory}" is not a URL`, { code: 'E_INGRESS_FLAGS' });
  }
  if (directoryUrl.protocol !== 'https:') {
    throw new UserInputError(`${WHAT}: ${dirLabel} must be an https URL (ACME requires TLS)`, { code: 'E_INGRESS_FLAGS' });
  }
  const email = input.acmeEmail ?? cfg.acme.email;
  if (email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(email)) {
    throw new UserInputError(`${WHAT}: ${input.acmeEmail !== undefined ? '--acme-email' : m.label({ key: 'acme.email' })} "${email}" is not an e-mail address`, { code: 'E_INGRESS_FLAGS' });
  }
  // A flag's file is relative to the working directory, the config's to the config file.
  const ca =
    input.acmeCa !== undefined
      ? { file: path.resolve(cwd, input.acmeCa), label: '--acme-ca', given: input.acmeCa }
      : cfg.acme.ca !== undefined
        ? { file: path.resolve(path.dirname(configFile), cfg.acme.ca), label: m.label({ key: 'acme.ca' }), given: cfg.acme.ca }
        : undefined;
  const caPem = ca === undefined ? undefined : readUserFile(ca.file, WHAT, ca.label);
  if (ca !== undefined && caPem !== undefined && !caPem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new UserInputError(`${WHAT}: ${ca.label} ${ca.given} holds no PEM certificate`, { code: 'E_INGRESS_FLAGS' });
  }
  const workers = input.workers !== undefined ? m.count('workers', '--workers', 0, R.workers).value : cfg.workers === 'auto' ? Math.min(R.workers[1], os.availableParallelism()) : cfg.workers;
  const retryMinMs = m.seconds('acmeRetryMin', '--acme-retry-min', cfg.acme.retry_min, R.retry);
  const retryMaxMs = m.seconds('acmeRetryMax', '--acme-retry-max', cfg.acme.retry_max, R.retry);
  if (retryMaxMs < retryMinMs) {
    throw new UserInputError(`${WHAT}: the ACME retry maximum (${retryMaxMs / 1000} s) is below the minimum (${retryMinMs / 1000} s)`, {
      code: 'E_INGRESS_FLAGS',
      suggestions: ['--acme-retry-min / --acme-retry-max, or ingress.acme.retry_min / retry_max in config.yaml'],
    });
  }
  return {
    address,
    httpPort: http.value,
    httpsPort: https.value,
    workers,
    limits: {
      maxConnections: m.count('maxConnections', '--max-connections', cfg.max_connections, R.max_connections).value,
      maxHeaderBytes: m.count('maxHeaderSize', '--max-header-size', cfg.max_header_size, R.max_header_size).value,
      maxHeaderCount: m.count('maxHeaders', '--max-headers', cfg.max_headers, R.max_headers).value,
      headerTimeoutMs: m.seconds('headerTimeout', '--header-timeout', cfg.header_timeout, R.header_timeout),
      requestTimeoutMs: m.seconds('requestTimeout', '--request-timeout', cfg.request_timeout, R.request_timeout),
      idleTimeoutMs: m.seconds('idleTimeout', '--idle-timeout', cfg.idle_timeout, R.idle_timeout),
    },
    acme: {
      directoryUrl: directoryUrl.href,
      ...(email !== undefined ? { email } : {}),
      ...(caPem !== undefined ? { caPem } : {}),
      renewBeforeMs: m.seconds('acmeRenewBefore', '--acme-renew-before', cfg.acme.renew_before, R.renew_before),
      retryMinMs,
      retryMaxMs,
    },
    health: {
      intervalMs: m.seconds('healthInterval', '--health-interval', cfg.health.interval, R.health_interval),
      timeoutMs: m.seconds('healthTimeout', '--health-timeout', cfg.health.timeout, R.health_timeout),
      failures: m.count('healthFailures', '--health-failures', cfg.health.failures, R.health_failures).value,
    },
    drainMs: m.seconds('drainTimeout', '--drain-timeout', cfg.drain_timeout, R.drain_timeout),
    dataDir: path.join(paths.stateDir, 'ingress'),
  };
}

/** What differs between two specs, in words (for reload replies and the log). */
export function describeSpecChanges(a: IngressProxySpec, b: IngressProxySpec): string[] {
  const out: string[] = [];
  const at = (addr: string, port: number): string => `${addr.includes(':') ? `[${addr}]` : addr}:${port}`;
  if (a.address !== b.address || a.httpPort !== b.httpPort) out.push(`http listener ${at(a.address, a.httpPort)} → ${at(b.address, b.httpPort)}`);
  if (a.address !== b.address || a.httpsPort !== b.httpsPort) out.push(`https listener ${at(a.address, a.httpsPort)} → ${at(b.address, b.httpsPort)}`);
  if (a.workers !== b.workers) out.push(`workers ${a.workers} → ${b.workers}`);
  for (const k of Object.keys(a.limits) as (keyof IngressProxySpec['limits'])[]) {
    if (a.limits[k] !== b.limits[k]) out.push(`${k} ${a.limits[k]} → ${b.limits[k]}`);
  }
  if (JSON.stringify(a.health) !== JSON.stringify(b.health)) out.push('health check settings');
  if (JSON.stringify(a.acme) !== JSON.stringify(b.acme)) out.push('ACME settings');
  if (a.drainMs !== b.drainMs) out.push(`drain timeout ${a.drainMs / 1000} s → ${b.drainMs / 1000} s`);
  return out;
}
