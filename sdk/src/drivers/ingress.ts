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
  /** Backoff after a failed order: retryMinMs, doubling per consecutive failure, at most retryMaxMs. */
  retryMinMs: number;
  retryMaxMs: number;
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
  /** ACME: orders placed at the CA for this host name by this proxy. */
  orders?: number;
  /** ACME: attempts to get a certificate (an attempt that fails before ordering places no order). */
  attempts?: number;
  serial?: string;
  error?: string;
  /** ACME: the next attempt after a failure. */
  retryAt?: string;
}

export interface IngressWorkerStatus {
  pid: number;
  connections: number;
  requests: number;
  /** Which set of workers it belongs to: a change of listeners or limits starts a new one. */
  generation?: number;
  /** Left over from an earlier generation: finishing its connections, taking no new ones. */
  draining?: boolean;
}

/** What `reconfigure` did. */
export interface IngressReconfigureResult {
  /** The listeners now accepting. */
  listeners: IngressListener[];
  /** What changed, in words ("http listener 0.0.0.0:80 → 0.0.0.0:8080"); empty when nothing did. */
  changes: string[];
}

export interface IngressStatus {
  driver: string;
  /** The listeners accepting now. */
  listeners: IngressListener[];
  workers: IngressWorkerStatus[];
  activeConnections: number;
  /** limits.maxConnections in force. */
  maxConnections?: number;
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
  /**
   * Optional: apply new settings to the running proxy (`volt ingress
   * reload` after config.yaml changed). Listeners whose address and port
   * are unchanged are kept as they are (same sockets, connections kept);
   * new ones are bound before old ones close, which then drain. Throws,
   * with everything still as before, when a new port cannot be bound.
   * A driver without it is restarted to change settings.
   */
  reconfigure?(spec: IngressProxySpec): Promise<IngressReconfigureResult>;
}

export const IngressDriver = token<IngressDriver>('volt.driver.ingress');
