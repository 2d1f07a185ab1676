/**
 * A reading thread of the batched UDP path (worker_threads): a blocking loop
 * of recvmmsg (MSG_WAITFORONE, up to `batch` datagrams; SO_RCVTIMEO bounds
 * the wait) → answer each from this thread's copy of the zone, with the same
 * LocalAnswerer the dgram path and the worker processes use → one sendmmsg
 * of the answers. Between batches it looks at its mail (new names, new search
 * domains, stop). Queries that need the upstreams or the cache go to the main
 * thread, which answers them from the same socket.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { UdpBatch, formatIpv4 } from '@volt/native';
import { CTL_MAIL, CTL_STOP, type BatchThreadData, type FromBatchThread, type ToBatchThread } from './batch-protocol';
import { LocalAnswerer } from './local-answerer';
import { ipv4ToInt } from './zone';

const data = workerData as BatchThreadData;
const port = parentPort;
if (port === null) throw new Error('batch-thread: not a worker thread');

const control = new Int32Array(data.control);
const counters = new Float64Array(data.counters);
const network = data.spec.network;
const answerer = new LocalAnswerer(data.searchDomains, data.serial);
if (data.view !== undefined) answerer.publish(data.view);

const [subnetAddr, prefix] = data.spec.subnet.split('/');
const mask = Number(prefix) === 0 ? 0 : (0xffffffff << (32 - Number(prefix))) >>> 0;
const subnet = (ipv4ToInt(subnetAddr ?? '') & mask) >>> 0;

function post(m: FromBatchThread): void {
  port?.postMessage(m);
}

function apply(m: ToBatchThread): void {
  switch (m.op) {
    case 'configure':
      answerer.setSearchDomains(m.searchDomains, m.serial);
      return;
    case 'publish':
      if (m.view.network === network) answerer.publish(m.view);
      return;
    case 'withdraw':
      if (m.network === network) answerer.withdraw(m.network);
      return;
  }
}

function readMail(): void {
  for (;;) {
    const m = receiveMessageOnPort(port!);
    if (m === undefined) return;
    try {
      apply(m.message as ToBatchThread);
    } catch (e: unknown) {
      post({ op: 'warn', message: `${data.spec.address}:${data.spec.port}/udp (network ${network}): ${e instanceof Error ? e.message : String(e)}` });
    }
  }
}

function loop(): void {
  const ring = new UdpBatch(data.fd, { batch: data.batch });
  // Mail posted before this thread ran is read on the first turn.
  let mail: number | undefined;
  let lastError = '';
  post({ op: 'ready' });
  try {
    while (Atomics.load(control, CTL_STOP) === 0) {
      const now = Atomics.load(control, CTL_MAIL);
      if (now !== mail) {
        mail = now;
        readMail();
      }
      let n: number;
      try {
        n = ring.receive();
      } catch (e: unknown) {
        // ENOMEM and friends: say so once, back off, go on.
        const message = e instanceof Error ? e.message : String(e);
        if (message !== lastError) post({ op: 'warn', message: `${data.spec.address}:${data.spec.port}/udp (network ${network}): ${message}` });
        lastError = message;
        Atomics.wait(control, CTL_STOP, 0, 100);
        continue;
      }
      for (let i = 0; i < n; i++) {
        const from = ring.sourceAddress(i);
        // Only the network's own clients: everything else is dropped without a reply.
        if (((from & mask) >>> 0) !== subnet) continue;
        const msg = ring.data(i);
        try {
          const r = answerer.local(network, msg);
          if (r === undefined) continue;
          if (Buffer.isBuffer(r)) ring.reply(i, r);
          // Forwarding: the main thread has the upstream sockets and the one cache.
          else post({ op: 'relay', msg: Uint8Array.prototype.slice.call(msg), address: formatIpv4(from), port: ring.sourcePort(i) });
        } catch (e: unknown) {
          // A bug must cost one answer, never the service.
          post({ op: 'warn', message: `answering ${formatIpv4(from)}: ${e instanceof Error ? e.message : String(e)}` });
        }
      }
      ring.send();
      counters[0] = answerer.queries;
    }
  } finally {
    ring.free();
  }
}

loop();
