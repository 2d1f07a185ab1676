import type { DnsListener, DnsView } from '@volt/sdk';

/**
 * The batched UDP path: threads (worker_threads) reading one listener's
 * socket with recvmmsg and answering with sendmmsg. What the main thread
 * tells a reading thread, and what a thread tells the main thread.
 */

/** Given to the thread at start. */
export interface BatchThreadData {
  /** The listener's UDP socket, opened (and closed) by the main thread. */
  fd: number;
  spec: DnsListener;
  searchDomains: string[];
  serial: number;
  /** The listener's network's names as published so far (undefined: none yet, the thread answers REFUSED). */
  view?: DnsView;
  batch: number;
  /** Int32Array: [CTL_STOP] 1 = leave the loop, [CTL_MAIL] bumped after every message posted to the thread. */
  control: SharedArrayBuffer;
  /** Float64Array: [0] the queries this thread has read (for stats). */
  counters: SharedArrayBuffer;
}

export const CTL_STOP = 0;
export const CTL_MAIL = 1;
export const CTL_SLOTS = 2;

/** Main → thread, read between batches (receiveMessageOnPort) when CTL_MAIL has moved. */
export type ToBatchThread =
  | { op: 'configure'; searchDomains: string[]; serial: number }
  | { op: 'publish'; view: DnsView }
  | { op: 'withdraw'; network: string };

/** Thread → main. */
export type FromBatchThread =
  /** Loaded, about to read: from here on a thread that dies is replaced; before, the listener falls back to dgram. */
  | { op: 'ready' }
  /** A query the thread cannot answer alone (forwarding, the cache): the main thread answers from the same socket. */
  | { op: 'relay'; msg: Uint8Array; address: string; port: number }
  | { op: 'warn'; message: string };
