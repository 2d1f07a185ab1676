import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserInputError } from '../errors';
import type { VoltPaths } from '../paths';
import type { IngressProxySpec } from '../drivers/ingress';
import { parsePort, readUserFile } from './ingress-validate';

export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

/** `volt ingress serve` flags as given (strings where the unit matters). */
export interface ServeInput {
  httpPort: number;
  httpsPort: number;
  address: string;
  workers?: number;
  acmeDirectory: string;
  acmeEmail?: string;
  acmeCa?: string;
  acmeRenewBefore: string;
  maxConnections: number;
  maxHeaderSize: number;
  maxHeaders: number;
  headerTimeout: string;
  requestTimeout: string;
  idleTimeout: string;
  healthInterval: string;
  healthTimeout: string;
  healthFailures: number;
  drainTimeout: string;
}

const WHAT = 'start the ingress proxy';

function seconds(raw: string, flag: string, min = 0.001, max = 365 * 86_400): number {
  const s = raw.trim();
  if (!/^\d+(\.\d+)?$/.test(s)) throw new UserInputError(`${WHAT}: ${flag} "${raw}" is not a number of seconds`, { code: 'E_INGRESS_FLAGS' });
  const n = Number(s);
  if (n < min || n > max) throw new UserInputError(`${WHAT}: ${flag} ${raw} is out of range (${min}-${max} s)`, { code: 'E_INGRESS_FLAGS' });
  return Math.round(n * 1000);
}

function count(n: number, flag: string, min: number, max: number): number {
  if (!Number.isInteger(n) || n < min || n > max) throw new UserInputError(`${WHAT}: ${flag} ${n} is out of range (${min}-${max})`, { code: 'E_INGRESS_FLAGS' });
  return n;
}

/** Flags → the driver's spec, every value checked once here. */
export function proxySpecFrom(input: ServeInput, paths: VoltPaths, cwd: string): IngressProxySpec {
  const httpPort = parsePort(input.httpPort, WHAT, '--http-port');
  const httpsPort = parsePort(input.httpsPort, WHAT, '--https-port');
  if (httpPort === httpsPort) throw new UserInputError(`${WHAT}: --http-port and --https-port are both ${httpPort}`, { code: 'E_INGRESS_FLAGS' });
  if (net.isIP(input.address) === 0) {
    throw new UserInputError(`${WHAT}: --address "${input.address}" is not an IP address`, { code: 'E_INGRESS_FLAGS', suggestions: ['e.g. 0.0.0.0, ::, 127.0.0.1'] });
  }
  let directoryUrl: URL;
  try {
    directoryUrl = new URL(input.acmeDirectory);
  } catch (e: unknown) {
    void e;
    throw new UserInputError(`${WHAT}: --acme-directory "${input.acmeDirectory}" is not a URL`, { code: 'E_INGRESS_FLAGS' });
  }
  if (directoryUrl.protocol !== 'https:') {
    throw new UserInputError(`${WHAT}: --acme-directory must be an https URL (ACME requires TLS)`, { code: 'E_INGRESS_FLAGS' });
  }
  if (input.acmeEmail !== undefined && !/^[^\s@]+@[^\s@]+$/.test(input.acmeEmail)) {
    throw new UserInputError(`${WHAT}: --acme-email "${input.acmeEmail}" is not an e-mail address`, { code: 'E_INGRESS_FLAGS' });
  }
  const caPem = input.acmeCa === undefined ? undefined : readUserFile(path.resolve(cwd, input.acmeCa), WHAT, '--acme-ca');
  if (caPem !== undefined && !caPem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new UserInputError(`${WHAT}: --acme-ca ${input.acmeCa} holds no PEM certificate`, { code: 'E_INGRESS_FLAGS' });
  }
  const cpus = os.availableParallelism();
  return {
    address: input.address,
    httpPort,
    httpsPort,
    workers: count(input.workers ?? cpus, '--workers', 1, 64),
    limits: {
      maxConnections: count(input.maxConnections, '--max-connections', 1, 1_000_000),
      maxHeaderBytes: count(input.maxHeaderSize, '--max-header-size', 1024, 1024 * 1024),
      maxHeaderCount: count(input.maxHeaders, '--max-headers', 1, 10_000),
      headerTimeoutMs: seconds(input.headerTimeout, '--header-timeout', 0.1, 3600),
      requestTimeoutMs: seconds(input.requestTimeout, '--request-timeout', 0.1, 86_400),
      idleTimeoutMs: seconds(input.idleTimeout, '--idle-timeout', 0.1, 3600),
    },
    acme: {
      directoryUrl: directoryUrl.href,
      ...(input.acmeEmail !== undefined ? { email: input.acmeEmail } : {}),
      ...(caPem !== undefined ? { caPem } : {}),
      renewBeforeMs: seconds(input.acmeRenewBefore, '--acme-renew-before', 1),
    },
    health: {
      intervalMs: seconds(input.healthInterval, '--health-interval', 0.1, 3600),
      timeoutMs: seconds(input.healthTimeout, '--health-timeout', 0.1, 600),
      failures: count(input.healthFailures, '--health-failures', 1, 100),
    },
    drainMs: seconds(input.drainTimeout, '--drain-timeout', 0, 3600),
    dataDir: path.join(paths.stateDir, 'ingress'),
  };
}
