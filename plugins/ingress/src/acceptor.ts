import { describeErrno } from './errno';
import * as net from 'node:net';
import type { IngressListener } from '@volt/sdk';

export type Protocol = IngressListener['protocol'];

/** A listener that could not be bound; names the port. */
export class ListenError extends Error {
  constructor(
    message: string,
    readonly port: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ListenError';
  }
}

/** Called for every accepted connection (paused: nothing is read in the primary); `owner` is the tag the listener was bound with. */
export type OnConnection = (socket: net.Socket, protocol: Protocol, owner: number) => void;

interface Bound {
  spec: IngressListener;
  server: net.Server;
  owner: number;
}

/** A change prepared by `Acceptor.prepare`: nothing is visible until commit. */
export interface PreparedListeners {
  /** Listeners that are new (bound now) or gone (closed at commit). */
  moved: { from: IngressListener; to: IngressListener }[];
  /** Make the new listeners current and close the replaced ones (they accept nothing more). */
  commit(): void;
  /** Undo: close what was bound, and bring back any old listener closed to make room. */
  rollback(): Promise<void>;
}

export function formatListener(l: IngressListener): string {
  return `${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`;
}


/** Two listeners cannot both be bound (same port, and the same address or a wildcard on either side). */
function overlaps(a: IngressListener, b: IngressListener): boolean {
  if (a.port !== b.port) return false;
  const wild = (x: string): boolean => x === '0.0.0.0' || x === '::';
  return a.address === b.address || wild(a.address) || wild(b.address);
}

/**
 * The listening sockets, owned by the primary: it accepts (pauseOnConnect,
 * so it never reads a byte) and hands each connection to a worker. Owning
 * them here is what lets the primary count connections exactly (the global
 * cap) and move a listener to another port without a restart: the new one
 * is bound before the old one closes, and a listener that does not change
 * keeps its socket.
 */
export class Acceptor {
  private readonly bound = new Map<Protocol, Bound>();

  constructor(private readonly onConnection: OnConnection) {}

  listeners(): IngressListener[] {
    return (['http', 'https'] as const).flatMap((p) => {
      const b = this.bound.get(p);
      return b ? [{ ...b.spec }] : [];
    });
  }

  /**
   * Bind what `wanted` needs that is not bound yet (tagged `owner`); keep
   * listeners whose protocol, address and port are unchanged. All or
   * nothing: a failure closes what this call bound, restores any old
   * listener it had to close, and throws a ListenError naming the port.
   */
  async prepare(wanted: IngressListener[], owner: number): Promise<PreparedListeners> {
    const fresh: Bound[] = [];
    const moved: { from: IngressListener; to: IngressListener }[] = [];
    /** Old listeners closed early to make room for a new one on the same port (an address change, a swap). */
    const closedEarly: Bound[] = [];
    const rollback = async (): Promise<void> => {
      for (const b of fresh) await close(b.server);
      fresh.length = 0;
      for (const b of closedEarly) {
        try {
          b.server = await this.bind(b.spec, b.owner);
        } catch (e: unknown) {
          process.stderr.write(`volt ingress: could not bring back ${b.spec.protocol} listener ${formatListener(b.spec)}: ${e instanceof Error ? e.message : String(e)}\n`);
          this.bound.delete(b.spec.protocol);
        }
      }
    };
    try {
      for (const w of wanted) {
        const old = this.bound.get(w.protocol);
        if (old && old.spec.address === w.address && old.spec.port === w.port) continue;
        moved.push({ from: old?.spec ?? w, to: w });
        try {
          fresh.push({ spec: { ...w }, server: await this.bind(w, owner), owner });
        } catch (e: unknown) {
          // Our own listener may stand in the way (0.0.0.0:80 → 127.0.0.1:80, or http and https swapping ports):
          // close it, then bind; on failure it is bound again.
          const blocker = [...this.bound.values()].find((b) => !closedEarly.includes(b) && overlaps(b.spec, w));
          if (!(e instanceof ListenError) || e.code !== 'EADDRINUSE' || blocker === undefined) throw e;
          await close(blocker.server);
          closedEarly.push(blocker);
          fresh.push({ spec: { ...w }, server: await this.bind(w, owner), owner });
        }
      }
    } catch (e: unknown) {
      await rollback();
      throw e;
    }
    return {
      moved,
      commit: () => {
        for (const b of fresh) {
          const old = this.bound.get(b.spec.protocol);
          if (old && !closedEarly.includes(old)) void close(old.server);
          this.bound.set(b.spec.protocol, b);
        }
        // A listener no longer wanted at all.
        for (const [p, b] of this.bound) {
          if (!wanted.some((w) => w.protocol === p)) {
            void close(b.server);
            this.bound.delete(p);
          }
        }
      },
      rollback,
    };
  }

  /** Stop accepting on every listener. */
  async close(): Promise<void> {
    const all = [...this.bound.values()];
    this.bound.clear();
    await Promise.all(all.map((b) => close(b.server)));
  }

  private bind(l: IngressListener, owner: number): Promise<net.Server> {
    return new Promise((resolve, reject) => {
      const s = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.onConnection(socket, l.protocol, owner));
      s.once('error', (e: NodeJS.ErrnoException) => reject(new ListenError(`listen on ${formatListener(l)}: ${describeErrno(e)}`, l.port, e.code)));
      // A large backlog: the primary accepts quickly, but bursts arrive faster than a turn of its loop.
      s.listen({ host: l.address, port: l.port, backlog: 4096 }, () => {
        s.removeAllListeners('error');
        s.on('error', (e: Error) => process.stderr.write(`volt ingress: ${l.protocol} listener ${formatListener(l)}: ${e.message}\n`));
        resolve(s);
      });
    });
  }
}

/**
 * Stop accepting: the listening socket is closed at once (the port is free
 * when this returns). Not waiting for close's callback, which would wait for
 * every connection accepted here to end — in the workers, that is a drain.
 */
function close(s: net.Server): Promise<void> {
  if (s.listening) s.close();
  return Promise.resolve();
}
