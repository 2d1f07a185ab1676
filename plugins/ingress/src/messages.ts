import type { IngressLimits, IngressRoute } from '@volt/core/dist/drivers/ingress';

/** What a worker needs to serve: listeners and limits (one per worker process). */
export interface WorkerConfig {
  address: string;
  httpPort: number;
  httpsPort: number;
  limits: IngressLimits;
  /** limits.maxConnections split over the workers. */
  maxConnectionsPerWorker: number;
}

/** A certificate the primary obtained (ACME); manual ones travel inside their routes. */
export interface CertificatePem {
  hostname: string;
  certPem: string;
  keyPem: string;
}

/** Everything a worker serves from; a new worker gets all of it before it accepts a connection. */
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

/** Worker → primary. */
export type FromWorker =
  | { type: 'ack'; seq: number }
  | { type: 'listening' }
  | { type: 'listen-error'; message: string; code?: string; port?: number }
  | { type: 'stats'; seq: number; connections: number; requests: number }
  /** A backend refused or timed out a connection: the primary probes it at once. */
  | { type: 'backend-failed'; key: string; error: string };

export function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}

export function isToWorker(m: unknown): m is ToWorker {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && typeof (m as { seq?: unknown }).seq === 'number';
}
