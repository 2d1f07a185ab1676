/**
 * Entry point of an ingress worker process (forked by the primary through
 * node:cluster). It binds nothing: the primary accepts every connection and
 * hands the socket over with a `conn` message; the worker serves it and
 * reports when it closes, so the primary's count of open connections (the
 * global cap) is exact. It loads nothing of volt's CLI: only the data plane,
 * configured over IPC by the primary.
 */
import type * as net from 'node:net';
import { ProxyEngine } from './proxy-engine';
import { isConnectionMessage, isToWorker, type FromWorker, type ToWorker } from './messages';

let engine: ProxyEngine | undefined;
let stopping: Promise<void> | undefined;
/** Handed-over connections closed and not yet reported. */
let closed = 0;
let flushing = false;

function send(m: FromWorker): void {
  if (process.connected) process.send?.(m);
}

/** Closes are reported in batches (one message per turn of the event loop, not per connection). */
function flushClosed(): void {
  flushing = false;
  if (closed === 0) return;
  send({ type: 'closed', n: closed });
  closed = 0;
}

function onClosed(): void {
  closed++;
  if (flushing) return;
  flushing = true;
  setImmediate(flushClosed);
}

function adopt(socket: net.Socket, listener: 'http' | 'https'): void {
  socket.once('close', onClosed);
  if (engine === undefined) {
    // Not configured (cannot happen: the primary hands connections to ready workers only).
    socket.destroy();
    return;
  }
  engine.adopt(socket, listener);
}

function stop(drainMs: number): Promise<void> {
  stopping ??= (engine?.stop(drainMs) ?? Promise.resolve()).then(() => {
    flushClosed();
    process.exitCode = 0;
    // Give the IPC channel a moment to flush the last ack, then leave.
    setTimeout(() => process.exit(0), 20).unref();
    if (process.connected) process.disconnect();
  });
  return stopping;
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'config': {
      try {
        engine = new ProxyEngine(m.config, { backendFailed: (key, error) => send({ type: 'backend-failed', key, error }) });
        // State first: this worker never answers from an empty table.
        engine.setRoutes(m.state.routes);
        engine.setCertificates(m.state.certificates);
        engine.setChallenges(m.state.challenges);
        engine.setDown(m.state.down);
        send({ type: 'ready' });
      } catch (e: unknown) {
        // Any failure to start fails startProxy/reconfigure at once instead of leaving it waiting.
        send({ type: 'start-error', message: e instanceof Error ? e.message : String(e) });
      }
      break;
    }
    case 'routes':
      engine?.setRoutes(m.routes);
      break;
    case 'certificates':
      engine?.setCertificates(m.certificates);
      break;
    case 'challenges':
      engine?.setChallenges(m.challenges);
      break;
    case 'down':
      engine?.setDown(m.keys);
      break;
    case 'stats': {
      const s = engine?.stats() ?? { connections: 0, requests: 0 };
      send({ type: 'stats', seq: m.seq, connections: s.connections, requests: s.requests });
      return;
    }
    case 'stop':
      send({ type: 'ack', seq: m.seq });
      await stop(m.drainMs);
      return;
  }
  send({ type: 'ack', seq: m.seq });
}

// The primary decides when workers stop (SIGTERM/SIGINT reach the whole process group).
process.on('SIGTERM', () => undefined);
process.on('SIGINT', () => undefined);
process.on('SIGHUP', () => undefined);
// Without a primary there is nobody to take orders from: drain and leave.
process.on('disconnect', () => void stop(5000));
process.on('message', (m: unknown, socket: unknown) => {
  if (isConnectionMessage(m)) {
    if (socket !== undefined && socket !== null) adopt(socket as net.Socket, m.listener);
    return;
  }
  if (!isToWorker(m)) return;
  handle(m).catch((e: unknown) => {
    process.stderr.write(`volt ingress worker ${process.pid}: ${m.type} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  });
});
