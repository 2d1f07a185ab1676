import type { DnsListener, DnsView } from '@volt/sdk';

/**
 * The batched UDP path: a few reading threads (worker_threads, a V8 isolate
 * each, as many as asked for, whatever the number of networks) that poll every
 * listener's socket, read with recvmmsg and answer with sendmmsg. What the main
 * thread tells a reading thread, and what a thread tells the main thread.
 * See docs/decisions/0005-dns-batched-udp.md and 0007-cli-startup-2.md.
 */

/** One listener's socket as the threads see it. */
export interface ThreadSocket {
  /** Opened (and closed) by the main thread. */
  fd: number;
  spec: DnsListener;
  /** Float64Array, one slot per thread index: the queries that thread has read on this socket (for stats). */
  counters: SharedArrayBuffer;
}

/** Given to the thread at start. */
export interface BatchThreadData {
  /** This thread's slot in every socket's counters. */
  index: number;
  /** An eventfd the main thread signals after posting mail, polled beside the sockets (so mail is read at once). */
  wakeFd: number;
  searchDomains: string[];
  serial: number;
  /** Every network's names as published so far. */
  views: DnsView[];
  /** The sockets to read from the start (a thread that replaces one that died). */
  sockets: ThreadSocket[];
  batch: number;
  /** Int32Array: [CTL_STOP] 1 = leave the loop, [CTL_MAIL] bumped after every message posted to the threads. */
  control: SharedArrayBuffer;
  /** The main thread's performance.timeOrigin (trace.ts). */
  origin: number;
}

export const CTL_STOP = 0;
export const CTL_MAIL = 1;
export const CTL_SLOTS = 2;
/** Most reading threads (and so counter slots per socket). */
export const MAX_THREADS = 8;

/** Main → thread, read between batches (receiveMessageOnPort) when CTL_MAIL has moved. */
export type ToBatchThread =
  | { op: 'configure'; searchDomains: string[]; serial: number }
  | { op: 'publish'; view: DnsView }
  | { op: 'withdraw'; network: string }
  /** Read this socket too; answered with `added`. */
  | { op: 'add'; socket: ThreadSocket }
  /** Stop reading this socket; answered with `removed` (after which the fd may be closed). */
  | { op: 'remove'; fd: number };

/** Thread → main. */
export type FromBatchThread =
  /** Loaded, about to read: from here on a thread that dies is replaced; before, the listeners fall back to dgram. */
  | { op: 'ready' }
  | { op: 'added'; fd: number }
  | { op: 'removed'; fd: number }
  /** A query the thread cannot answer alone (forwarding, the cache): the main thread answers from the same socket. */
  | { op: 'relay'; fd: number; msg: Uint8Array; address: string; port: number }
  | { op: 'warn'; message: string }
  /** A receive came back full (a queue builds up): the pool starts the threads beside the first, once. */
  | { op: 'busy' };
