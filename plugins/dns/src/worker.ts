/**
 * A worker process of volt-dns: reads the UDP sockets the main process bound
 * (the kernel hands each datagram to one reader) and answers workload names
 * from its own copy of the zones. Anything needing the upstreams or the cache
 * goes back to the main process, so there is one cache and one set of
 * upstream sockets however many workers run.
 */
import type * as dgram from 'node:dgram';
import { LocalAnswerer } from './local-answerer';
import { Listener, listenerKey } from './listener';
import type { FromWorker, ToWorker } from './worker-protocol';

let answerer: LocalAnswerer | undefined;
const listeners = new Map<string, Listener>();

function send(m: FromWorker): void {
  if (process.connected) process.send?.(m);
}

const warn = (message: string): void => send({ op: 'warn', message });

function handle(m: ToWorker, socket: dgram.Socket | undefined): number {
  switch (m.op) {
    case 'start':
      answerer = new LocalAnswerer(m.searchDomains, m.serial);
      return 0;
    case 'configure':
      need().setSearchDomains(m.searchDomains, m.serial);
      return 0;
    case 'publish':
      need().publish(m.view);
      return 0;
    case 'withdraw':
      need().withdraw(m.network);
      return 0;
    case 'queries':
      return need().queries;
    case 'listen': {
      if (socket === undefined) throw new Error('listen without a socket');
      const a = need();
      const key = listenerKey(m.spec);
      const l = new Listener(
        m.spec,
        (network, msg, _tcp, peer) => {
          const r = a.local(network, msg);
          if (r === undefined || Buffer.isBuffer(r)) return r;
          if (peer !== undefined) send({ op: 'relay', key, msg, address: peer.address, port: peer.port });
          return undefined;
        },
        warn,
      );
      l.adopt(socket);
      listeners.set(key, l);
      return 0;
    }
    case 'unlisten': {
      const key = listenerKey(m.spec);
      const l = listeners.get(key);
      listeners.delete(key);
      void l?.close();
      return 0;
    }
  }
}

function need(): LocalAnswerer {
  if (!answerer) throw new Error('worker not started');
  return answerer;
}

process.on('message', (m: ToWorker, socket?: dgram.Socket) => {
  try {
    send({ op: 'reply', id: m.id, ok: true, value: handle(m, socket) });
  } catch (e: unknown) {
    send({ op: 'reply', id: m.id, ok: false, error: e instanceof Error ? e.message : String(e) });
  }
});
// The main process is gone (stopped, or killed): so is the reason to answer.
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => undefined);
