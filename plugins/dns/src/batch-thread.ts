/**
 * A reading thread of the batched UDP path (worker_threads). One thread reads
 * every listener's socket: poll(2) over all of them and an eventfd the main
 * thread signals when it posts mail, then for each ready socket recvmmsg
 * without waiting (up to `batch` datagrams; again while batches come full) →
 * answer each from this thread's copy of the zones, with the same
 * LocalAnswerer the dgram path and the worker processes use → one sendmmsg of
 * the answers. A few such threads (not one per network) keep the service's
 * start-up and memory flat in the number of networks (docs/decisions/0007).
 * Between batches it looks at its mail (sockets added and removed, names,
 * search domains, stop). Queries that need the upstreams or the cache go to
 * the main thread, which answers them from the same socket.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { trace, traceOrigin } from './trace';
traceOrigin((workerData as BatchThreadData).origin);
trace(`thread ${(workerData as BatchThreadData).index} isolate (+${(performance.timeOrigin - (workerData as BatchThreadData).origin).toFixed(1)} ms: its origin)`);
import { MSG_DONTWAIT, MSG_WAITFORONE, PollSet, UdpBatch, clearEventFd, formatIpv4 } from '@volt/native/dist/udp-batch';
import { CTL_MAIL, CTL_STOP, type BatchThreadData, type FromBatchThread, type ThreadSocket, type ToBatchThread } from './batch-protocol';
import { LocalAnswerer } from './local-answerer';
import { RECV_TIMEOUT_MS } from './udp-mode';
import { ipv4ToInt } from './zone';

const data = workerData as BatchThreadData;
const port = parentPort;
if (port === null) throw new Error('batch-thread: not a worker thread');

/** Full batches read from one socket in a row before the others get their turn. */
const DRAIN_ROUNDS = 16;

trace(`thread ${data.index} loaded`);
const control = new Int32Array(data.control);
const answerer = new LocalAnswerer(data.searchDomains, data.serial);
for (const v of data.views) answerer.publish(v);

interface Sock {
  fd: number;
  network: string;
  where: string;
  mask: number;
  subnet: number;
  counters: Float64Array;
  queries: number;
  lastError: string;
}

const sockets = new Map<number, Sock>();
let order: Sock[] = [];
const poll = new PollSet();

function post(m: FromBatchThread): void {
  port?.postMessage(m);
}

function addSocket(s: ThreadSocket): void {
  const [subnetAddr, prefix] = s.spec.subnet.split('/');
  const mask = Number(prefix) === 0 ? 0 : (0xffffffff << (32 - Number(prefix))) >>> 0;
  sockets.set(s.fd, {
    fd: s.fd,
    network: s.spec.network,
    where: `${s.spec.address}:${s.spec.port}/udp (network ${s.spec.network})`,
    mask,
    subnet: (ipv4ToInt(subnetAddr ?? '') & mask) >>> 0,
    counters: new Float64Array(s.counters),
    queries: 0,
    lastError: '',
  });
}

/** When the set of sockets last changed (ms, performance.now()). */
let changedAt = 0;
/**
 * A lone socket is read by blocking recvmmsg, which mail cannot wake (only its receive timeout
 * ends it): not until the set has stood still this long, so that while the service starts and
 * its listeners are added one after the other each is read at once.
 */
const SETTLED_MS = 1000;

function rebuild(): void {
  changedAt = performance.now();
  order = [...sockets.values()];
  // Index 0 is the wake-up eventfd; socket i is at i + 1.
  poll.set([data.wakeFd, ...order.map((s) => s.fd)]);
}

function apply(m: ToBatchThread): void {
  switch (m.op) {
    case 'configure':
      answerer.setSearchDomains(m.searchDomains, m.serial);
      return;
    case 'publish':
      answerer.publish(m.view);
      return;
    case 'withdraw':
      answerer.withdraw(m.network);
      return;
    case 'add':
      addSocket(m.socket);
      dirty = true;
      added.push(m.socket.fd);
      return;
    case 'remove':
      sockets.delete(m.fd);
      dirty = true;
      removed.push(m.fd);
      return;
  }
}

/** The socket set changed while reading mail: the poll set is rebuilt once, after all of it. */
let dirty = false;
const added: number[] = [];
const removed: number[] = [];
let mailRead = 0;

function readMail(): void {
  let n = 0;
  for (;;) {
    const m = receiveMessageOnPort(port!);
    if (m === undefined) break;
    n++;
    try {
      apply(m.message as ToBatchThread);
    } catch (e: unknown) {
      post({ op: 'warn', message: `reading thread ${data.index}: ${e instanceof Error ? e.message : String(e)}` });
    }
  }
  if (dirty) {
    dirty = false;
    rebuild();
    // Only now: a socket is read (or let go) from the next poll on.
    for (const fd of added.splice(0)) post({ op: 'added', fd });
    for (const fd of removed.splice(0)) post({ op: 'removed', fd });
  }
  if (mailRead++ < 3) trace(`thread ${data.index} mail read (${n} messages, ${order.length} sockets)`);
}

/** Told the main thread once that a batch came full (it may start the other reading threads then). */
let saidBusy = false;

/** Read and answer what is queued on one socket (a few batches at most, then the next socket). */
function drain(ring: UdpBatch, s: Sock, first = MSG_DONTWAIT): void {
  ring.fd = s.fd;
  for (let round = 0; round < DRAIN_ROUNDS; round++) {
    let n: number;
    try {
      n = ring.receive(round === 0 ? first : MSG_DONTWAIT);
    } catch (e: unknown) {
      // ENOMEM and friends: say so once, go on (the next poll comes back to it).
      const message = e instanceof Error ? e.message : String(e);
      if (message !== s.lastError) post({ op: 'warn', message: `${s.where}: ${message}` });
      s.lastError = message;
      return;
    }
    if (n === 0) return;
    for (let i = 0; i < n; i++) {
      const from = ring.sourceAddress(i);
      // Only the network's own clients: everything else is dropped without a reply.
      if (((from & s.mask) >>> 0) !== s.subnet) continue;
      const msg = ring.data(i);
      s.queries++;
      try {
        const r = answerer.local(s.network, msg);
        if (r === undefined) continue;
        if (Buffer.isBuffer(r)) ring.reply(i, r);
        // Forwarding: the main thread has the upstream sockets and the one cache.
        else post({ op: 'relay', fd: s.fd, msg: Uint8Array.prototype.slice.call(msg), address: formatIpv4(from), port: ring.sourcePort(i) });
      } catch (e: unknown) {
        // A bug must cost one answer, never the service.
        post({ op: 'warn', message: `answering ${formatIpv4(from)}: ${e instanceof Error ? e.message : String(e)}` });
      }
    }
    ring.send();
    s.counters[data.index] = s.queries;
    if (n === ring.batch && !saidBusy) {
      saidBusy = true;
      post({ op: 'busy' });
    }
    // A batch that did not come full emptied the queue: back to poll rather than a receive that finds nothing.
    if (n < ring.batch) return;
  }
}

function loop(): void {
  for (const s of data.sockets) addSocket(s);
  rebuild();
  const ring = new UdpBatch(-1, { batch: data.batch });
  // Mail posted before this thread ran is read on the first turn.
  let mail: number | undefined;
  let lastError = '';
  post({ op: 'ready' });
  trace(`thread ${data.index} ready (${order.length} sockets)`);
  try {
    while (Atomics.load(control, CTL_STOP) === 0) {
      const now = Atomics.load(control, CTL_MAIL);
      if (now !== mail) {
        mail = now;
        readMail();
        continue;
      }
      // One socket (one network): block in recvmmsg itself (MSG_WAITFORONE, up to the socket's
      // 100 ms receive timeout), as before the threads were shared: no poll per burst and no
      // empty receive when the other thread took the datagrams. Mail then waits for that timeout.
      if (order.length === 1 && performance.now() - changedAt > SETTLED_MS) {
        drain(ring, order[0]!, MSG_WAITFORONE);
        continue;
      }
      let ready: number;
      try {
        ready = poll.wait(RECV_TIMEOUT_MS);
      } catch (e: unknown) {
        const message = e instanceof Error ? e.message : String(e);
        if (message !== lastError) post({ op: 'warn', message: `reading thread ${data.index}: ${message}` });
        lastError = message;
        Atomics.wait(control, CTL_STOP, 0, RECV_TIMEOUT_MS);
        continue;
      }
      if (ready === 0) continue;
      // Mail: cleared here, read at the top of the loop.
      if (poll.ready(0)) clearEventFd(data.wakeFd);
      const turn = order;
      for (let i = 0; i < turn.length; i++) if (poll.ready(i + 1)) drain(ring, turn[i]!);
    }
  } finally {
    ring.free();
  }
}

loop();
