import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { DnsView } from '@volt/sdk';
import { CTL_MAIL, CTL_SLOTS, CTL_STOP, MAX_THREADS, type BatchThreadData, type FromBatchThread, type ThreadSocket, type ToBatchThread } from './batch-protocol';
import { trace } from './trace';
import type { UdpMode } from './udp-mode';

/** Pause before replacing a reading thread that died, so a crash loop cannot spin. */
const THREAD_RESPAWN_MS = 1000;
/** A reading thread leaves its loop (or lets go of a socket) within one poll timeout of being told; after this long it is terminated. */
const THREAD_STOP_MS = 2000;
/** How long the first reading thread may take to start (a loaded machine) before the listeners use dgram. */
const THREAD_START_MS = 15_000;

/** What the pool needs from the engine. */
export interface PoolHooks {
  mode: Extract<UdpMode, { kind: 'batch' }>;
  /** The state a new reading thread starts from: search domains, SOA serial, every network's view. */
  initial(): { searchDomains: string[]; serial: number; views: DnsView[] };
  /** A query a reading thread cannot answer alone (forwarding), read on socket `fd`. */
  relay(fd: number, msg: Buffer, peer: { address: string; port: number }): void;
  warn(message: string): void;
}

interface ReadingThread {
  index: number;
  /** Its wake-up eventfd (batch-thread.ts polls it beside the sockets). */
  wakeFd: number;
  worker: Worker;
  ready: boolean;
  error?: string;
  exited: Promise<void>;
}

interface PoolSocket {
  socket: ThreadSocket;
  counters: Float64Array;
  /** Queries counted by threads that are gone. */
  retired: number;
  /** Settles when a thread reads it (undefined) or when none can (why not). */
  added: Promise<string | undefined>;
  settleAdded(failed: string | undefined): void;
  /** Threads that still read it, while it is being removed. */
  removing?: { left: Set<ReadingThread>; done(): void };
}

/**
 * The reading threads of the batched UDP path, shared by every listener: up
 * to `mode.threads` threads (a V8 isolate each), each polling every
 * listener's socket. The first starts with the service; the others when a
 * batch comes full. Start-up and memory do not grow with the number of
 * networks (docs/decisions/0007-cli-startup-2.md, 0012-dns-startup.md).
 */
export class ReaderPool {
  private readonly control = new Int32Array(new SharedArrayBuffer(CTL_SLOTS * 4));
  private readonly threads = new Set<ReadingThread>();
  private readonly sockets = new Map<number, PoolSocket>();
  private stopping = false;
  /** Some thread got as far as reading: the native path works here. */
  private worked = false;
  private startPromise?: Promise<string | undefined>;

  constructor(private readonly hooks: PoolHooks) {}

  /**
   * Start the first thread (once); the others start under load (startExtra).
   * Called when the service starts, before its zones and listeners, so the
   * isolate starts while those are made (docs/decisions/0012-dns-startup.md).
   * Resolves to undefined when a thread reads, else to why none could start.
   */
  start(): Promise<string | undefined> {
    this.startPromise ??= new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => this.onNoneStarted(`no reading thread started within ${THREAD_START_MS / 1000} s`), THREAD_START_MS);
      timer.unref();
      this.onFirstReady = () => {
        this.onFirstReady = () => undefined;
        clearTimeout(timer);
        resolve(undefined);
      };
      this.onNoneStarted = (why) => {
        this.onNoneStarted = () => undefined;
        this.onFirstReady = () => undefined;
        clearTimeout(timer);
        this.failed = why;
        // Every socket handed over so far learns it will not be read here (its listener falls back to dgram).
        for (const s of this.sockets.values()) s.settleAdded(why);
        resolve(why);
      };
      try {
        this.startThread(0);
      } catch (e: unknown) {
        this.onNoneStarted(`cannot start a reading thread (${e instanceof Error ? e.message : String(e)})`);
      }
    });
    return this.startPromise;
  }

  /**
   * The threads beside the first, once a thread reports a full batch (a queue
   * builds up): an idle or lightly used service keeps one isolate, and none of
   * them competes with the first one's start-up.
   */
  private startExtra(): void {
    if (this.extraStarted || this.stopping) return;
    this.extraStarted = true;
    try {
      for (let i = 1; i < Math.min(MAX_THREADS, this.hooks.mode.threads); i++) this.startThread(i);
    } catch (e: unknown) {
      this.hooks.warn(`start a further reading thread: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private extraStarted = false;
  private onFirstReady = (): void => undefined;
  private onNoneStarted = (_why: string): void => undefined;
  /** Why no reading thread could start (then every socket is refused). */
  private failed?: string;

  /**
   * Read `socket` from now on. Returns at once: datagrams wait in the socket's
   * queue until a thread reads it. The promise settles with undefined once a
   * thread reads it, or with why none will.
   */
  add(socket: Omit<ThreadSocket, 'counters'>): Promise<string | undefined> {
    void this.start();
    if (this.failed !== undefined) return Promise.resolve(this.failed);
    const counters = new SharedArrayBuffer(MAX_THREADS * 8);
    let settleAdded = (_f: string | undefined): void => undefined;
    const added = new Promise<string | undefined>((r) => (settleAdded = r));
    const s: PoolSocket = { socket: { ...socket, counters }, counters: new Float64Array(counters), retired: 0, added, settleAdded };
    this.sockets.set(socket.fd, s);
    if (this.threads.size === 0) s.settleAdded('no reading thread is running');
    this.send({ op: 'add', socket: s.socket });
    return added;
  }

  /** Stop reading socket `fd`; resolves when no thread uses it any more (then it may be closed). */
  async remove(fd: number, wake: () => void): Promise<void> {
    const s = this.sockets.get(fd);
    if (s === undefined) return;
    s.settleAdded('the listener closed');
    const left = new Set(this.threads);
    const allLetGo = new Promise<void>((resolve) => {
      s.removing = { left, done: resolve };
      if (left.size === 0) resolve();
    });
    this.send({ op: 'remove', fd });
    // A thread blocked in poll wakes at once (else within the poll timeout).
    wake();
    // A thread that does not let go in time is terminated (and replaced); its exit lets go.
    const timer = setTimeout(() => {
      for (const t of left) void t.worker.terminate();
    }, THREAD_STOP_MS);
    await allLetGo;
    clearTimeout(timer);
    this.sockets.delete(fd);
  }

  /** Tell every reading thread (names, search domains). */
  post(m: ToBatchThread): void {
    this.send(m);
  }

  /** Queries the reading threads have read on socket `fd`. */
  queries(fd: number): number {
    const s = this.sockets.get(fd);
    if (s === undefined) return 0;
    let n = s.retired;
    for (let i = 0; i < MAX_THREADS; i++) n += s.counters[i] ?? 0;
    return n;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    Atomics.store(this.control, CTL_STOP, 1);
    Atomics.add(this.control, CTL_MAIL, 1);
    this.wakeAll();
    await Promise.all(
      [...this.threads].map(async (t) => {
        const timer = setTimeout(() => void t.worker.terminate(), THREAD_STOP_MS);
        await t.exited;
        clearTimeout(timer);
      }),
    );
  }

  private send(m: ToBatchThread): void {
    for (const t of this.threads) t.worker.postMessage(m);
    Atomics.add(this.control, CTL_MAIL, 1);
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const t of this.threads) this.hooks.mode.native.signalEventFd(t.wakeFd);
  }

  private startThread(index: number): void {
    const native = this.hooks.mode.native;
    const wakeFd = native.openEventFd();
    const data: BatchThreadData = {
      index,
      wakeFd,
      ...this.hooks.initial(),
      sockets: [...this.sockets.values()].filter((s) => s.removing === undefined).map((s) => s.socket),
      batch: this.hooks.mode.batch,
      control: this.control.buffer as SharedArrayBuffer,
      origin: performance.timeOrigin,
    };
    trace(`thread ${index} spawn`);
    let worker: Worker;
    try {
      worker = new Worker(path.join(__dirname, 'batch-thread.js'), { workerData: data, stdout: false, stderr: false });
    } catch (e: unknown) {
      native.closeUdpSocket(wakeFd);
      throw e;
    }
    let resolveExit = (): void => undefined;
    const t: ReadingThread = { index, wakeFd, worker, ready: false, exited: new Promise<void>((r) => (resolveExit = r)) };
    this.threads.add(t);
    worker.on('message', (m: FromBatchThread) => {
      switch (m.op) {
        case 'relay':
          this.hooks.relay(m.fd, Buffer.from(m.msg.buffer, m.msg.byteOffset, m.msg.byteLength), { address: m.address, port: m.port });
          return;
        case 'ready':
          trace(`thread ${index} ready seen`);
          t.ready = this.worked = true;
          // Sockets it was started with are read from here on.
          for (const s of data.sockets) this.sockets.get(s.fd)?.settleAdded(undefined);
          this.onFirstReady();
          return;
        case 'added':
          this.sockets.get(m.fd)?.settleAdded(undefined);
          return;
        case 'removed':
          this.letGo(t, m.fd);
          return;
        case 'warn':
          this.hooks.warn(m.message);
          return;
        case 'busy':
          trace(`thread ${index} busy: starting the others`);
          this.startExtra();
          return;
      }
    });
    worker.on('error', (e: Error) => {
      t.error = e.message;
      if (t.ready) this.hooks.warn(`reading thread ${index}: ${e.message}`);
    });
    worker.on('exit', (code) => {
      this.threads.delete(t);
      // Gone: no call of its can be using the eventfd any more.
      native.closeUdpSocket(wakeFd);
      // Its counts stay counted; its slot starts again from zero in a replacement.
      for (const s of this.sockets.values()) {
        s.retired += s.counters[index] ?? 0;
        s.counters[index] = 0;
        this.letGo(t, s.socket.fd);
      }
      resolveExit();
      if (this.stopping) return;
      if (!this.worked) {
        // None got as far as reading (the module or koffi would not load in a thread): the listeners fall back to dgram.
        if (this.threads.size === 0) this.onNoneStarted(`a reading thread did not start (${t.error ?? `exit code ${code}`})`);
        return;
      }
      this.hooks.warn(`UDP reading thread ${index} exited (code ${code}); replacing it in ${THREAD_RESPAWN_MS / 1000} s`);
      setTimeout(() => {
        if (this.stopping) return;
        try {
          this.startThread(index);
        } catch (e: unknown) {
          this.hooks.warn(`replace reading thread: ${e instanceof Error ? e.message : String(e)}`);
        }
      }, THREAD_RESPAWN_MS).unref();
    });
  }

  private letGo(t: ReadingThread, fd: number): void {
    const r = this.sockets.get(fd)?.removing;
    if (r === undefined || !r.left.delete(t)) return;
    if (r.left.size === 0) r.done();
  }
}
