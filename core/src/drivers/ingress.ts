import { token } from '../di/token';
import type { Driver } from './driver';

export type IngressTlsMode = 'none' | 'auto' | 'manual' | 'passthrough';

/** One upstream of a route. Core resolves workload names; the driver only connects. */
export interface IngressBackend {
  /** What the route names: a workload ("web") or an address ("10.30.0.5"). */
  target: string;
  /** Where to connect now; absent while the workload has no address (requests get 502). */
  address?: string;
  port: number;
}

/** A certificate and its key, as PEM text (core reads the files; the driver never parses user input). */
export interface IngressCertificate {
  certPem: string;
  keyPem: string;
  /** Where it came from, for status ("/etc/certs/app.pem"). */
  source: string;
}

/** A route, resolved and validated: plain data the proxy applies as it is. */
export interface IngressRoute {
  name: string;
  /** Lower-case host name, or "*.example.com" (one label). */
  hostname: string;
  /** "/" or a prefix without a trailing slash ("/v1"); matches "/v1", "/v1/…", "/v1?…". */
  path: string;
  /** Forward "/v1/users" as "/users". */
  stripPath: boolean;
  backends: IngressBackend[];
  tls: IngressTlsMode;
  /** Backend timeout: connect + response headers (HTTP), connect (passthrough). */
  timeoutMs: number;
  /** tls manual: the certificate served for `hostname`. */
  certificate?: IngressCertificate;
}

/** Protection against slow, large and too many clients. */
export interface IngressLimits {
  /** Request line + headers, bytes (431 beyond). */
  maxHeaderBytes: number;
  /** Header fields per request (431 beyond). */
  maxHeaderCount: number;
  /** Time a client has to send its complete headers (slowloris; 408 and close). */
  headerTimeoutMs: number;
  /** Time a client has to send its complete request, body included. */
  requestTimeoutMs: number;
  /** Idle keep-alive connections are closed after this. */
  idleTimeoutMs: number;
  /** Concurrent client connections (HTTP + HTTPS), across all workers. */
  maxConnections: number;
}

export interface IngressAcmeSettings {
  /** ACME directory, e.g. https://acme-v02.api.letsencrypt.org/directory. */
  directoryUrl: string;
  /** Contact address for the ACME account. */
  email?: string;
  /** Extra CA certificates (PEM) trusted when talking to the ACME server (a private or test CA such as pebble's). */
  caPem?: string;
  /** Renew this long before expiry (at most a third of the certificate's lifetime). */
  renewBeforeMs: number;
}

export interface IngressHealthSettings {
  /** Time between probes of each backend. */
  intervalMs: number;
  /** A probe that has no answer within this fails. */
  timeoutMs: number;
  /** Consecutive failures that take a backend out of routing (one success puts it back). */
  failures: number;
}

export interface IngressProxySpec {
  /** Address to listen on ("0.0.0.0", "::", "127.0.0.1"). */
  address: string;
  httpPort: number;
  httpsPort: number;
  /** Worker processes sharing the listeners (≥ 1). */
  workers: number;
  limits: IngressLimits;
  acme: IngressAcmeSettings;
  health: IngressHealthSettings;
  /** In-flight requests get this long to finish when the proxy stops. */
  drainMs: number;
  /** Where ACME keys and certificates are kept (`<root>/var/lib/volt/ingress`). */
  dataDir: string;
}

export interface IngressListener {
  protocol: 'http' | 'https';
  address: string;
  port: number;
}

export interface IngressBackendHealth {
  /** "10.30.0.5:8080" */
  key: string;
  target: string;
  routes: string[];
  state: 'healthy' | 'unhealthy' | 'unresolved';
  /** ISO time of the last probe. */
  checkedAt?: string;
  /** ISO time the state last changed. */
  since?: string;
  error?: string;
}

export interface IngressCertificateStatus {
  hostname: string;
  source: 'manual' | 'acme';
  state: 'valid' | 'pending' | 'renewing' | 'error' | 'expired';
  notAfter?: string;
  /** ACME: when renewal is due. */
  renewAt?: string;
  /** ACME: certificates ordered for this host name by this proxy. */
  orders?: number;
  serial?: string;
  error?: string;
  /** ACME: the next attempt after a failure. */
  retryAt?: string;
}

export interface IngressStatus {
  driver: string;
  listeners: IngressListener[];
  workers: { pid: number; connections: number; requests: number }[];
  activeConnections: number;
  /** Bumped by every applyRoutes. */
  generation: number;
  appliedAt?: string;
  backends: IngressBackendHealth[];
  certificates: IngressCertificateStatus[];
}

/**
 * Routes HTTP/HTTPS from the host to workloads. Routes are plain data: core
 * resolves names and reads certificate files, the driver serves the table.
 */
export interface IngressDriver extends Driver {
  /**
   * Bind the listeners and serve `routes` (generation 1) from the first
   * connection on. Throws (and leaves nothing behind) if a port cannot be bound.
   */
  startProxy(spec: IngressProxySpec, routes: IngressRoute[]): Promise<IngressListener[]>;
  /** Stop accepting, let in-flight requests finish (up to spec.drainMs), close everything. Idempotent. */
  stopProxy(): Promise<void>;
  /**
   * Swap the routing table: new requests use `routes`, in-flight ones finish
   * on the old table, open connections (WebSocket, passthrough) are kept.
   * Returns the table's generation.
   */
  applyRoutes(routes: IngressRoute[]): Promise<number>;
  /** Listeners, connections, backend health and certificates. */
  status(): Promise<IngressStatus>;
}

export const IngressDriver = token<IngressDriver>('volt.driver.ingress');
