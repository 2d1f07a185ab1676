import type { IngressLimits, IngressRoute } from '@volt/sdk';

/** What a worker needs to serve: limits and where it is reached (one per worker generation). */
export interface WorkerConfig {
  address: string;
  httpPort: number;
  /** For redirects to https (the port goes into Location when it is not 443). */
  httpsPort: number;
  limits: IngressLimits;
  /**
   * A backstop only: the primary accepts every connection and counts them
   * across all workers against limits.maxConnections before handing one
   * over, so this is that global cap and a worker never reaches it.
   */
  maxConnectionsPerWorker: number;
}

/** A certificate the primary obtained (ACME); manual ones travel inside their routes. */
export interface CertificatePem {
  hostname: string;
  certPem: string;
  keyPem: string;
}

/** Everything a worker serves from; a new worker gets all of it before it is handed a connection. */
export interface WorkerState {
  generation: number;
  routes: IngressRoute[];
  certificates: CertificatePem[];
  challenges: Record<string, string>;
  down: string[];
}

/** Primary → worker. Every state message carries a sequence number the worker acknowledges. */
export type ToWorker =
  | { type: 'config'; seq: number; config: WorkerConfig; state: WorkerState }
  | { type: 'routes'; seq: number; generation: number; routes: IngressRoute[] }
  | { type: 'certificates'; seq: number; certificates: CertificatePem[] }
  | { type: 'challenges'; seq: number; challenges: Record<string, string> }
  | { type: 'down'; seq: number; keys: string[] }
  | { type: 'stats'; seq: number }
  | { type: 'stop'; seq: number; drainMs: number };

/**
 * Primary → worker, with the accepted socket as the message's handle: a
 * client connection on the `listener` port, to serve. Not acknowledged (the
 * worker reports it in `closed` when it ends).
 */
export interface ConnectionMessage {
  type: 'conn';
  listener: 'http' | 'https';
}

/** Worker → primary. */
export type FromWorker =
  | { type: 'ack'; seq: number }
  /** Configured and ready to be handed connections. */
  | { type: 'ready' }
  | { type: 'start-error'; message: string }
  | { type: 'stats'; seq: number; connections: number; requests: number }
  /** `n` handed-over connections have closed since the last report (the primary's count of open connections). */
  | { type: 'closed'; n: number }
  /** A backend refused or timed out a connection: the primary probes it at once. */
  | { type: 'backend-failed'; key: string; error: string };

export function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}

export function isToWorker(m: unknown): m is ToWorker {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && typeof (m as { seq?: unknown }).seq === 'number';
}

export function isConnectionMessage(m: unknown): m is ConnectionMessage {
  if (typeof m !== 'object' || m === null) return false;
  const c = m as { type?: unknown; listener?: unknown };
  return c.type === 'conn' && (c.listener === 'http' || c.listener === 'https');
}
