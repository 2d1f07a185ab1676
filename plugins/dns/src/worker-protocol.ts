import type { DnsListener, DnsView } from '@volt/sdk';

/** Main process → worker. `listen` carries the bound UDP socket as the message's handle. */
export type ToWorker =
  | { id: number; op: 'start'; searchDomains: string[]; serial: number }
  /** Config reloaded: new search domains (the views follow as `publish`). */
  | { id: number; op: 'configure'; searchDomains: string[]; serial: number }
  | { id: number; op: 'listen'; spec: DnsListener }
  | { id: number; op: 'unlisten'; spec: DnsListener }
  | { id: number; op: 'publish'; view: DnsView }
  | { id: number; op: 'withdraw'; network: string }
  | { id: number; op: 'queries' };

/** Worker → main process. */
export type FromWorker =
  | { op: 'reply'; id: number; ok: true; value: number }
  | { op: 'reply'; id: number; ok: false; error: string }
  /** A query the worker cannot answer alone (forwarding, cache): the main process answers from the same socket. */
  | { op: 'relay'; key: string; msg: Uint8Array; address: string; port: number }
  | { op: 'warn'; message: string };
