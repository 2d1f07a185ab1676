/**
 * Entry point of an ingress worker process (forked by the primary through
 * node:cluster, sharing its listening sockets). It loads nothing of volt's
 * CLI: only the data plane, configured over IPC by the primary.
 */
import { ProxyEngine, type ListenFailure } from './proxy-engine';
import { isToWorker, type FromWorker, type ToWorker } from './messages';

let engine: ProxyEngine | undefined;
let stopping: Promise<void> | undefined;

function send(m: FromWorker): void {
  if (process.connected) process.send?.(m);
}

function stop(drainMs: number): Promise<void> {
  stopping ??= (engine?.stop(drainMs) ?? Promise.resolve()).then(() => {
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
        // State first, listeners second: this worker never answers from an empty table.
        engine.setRoutes(m.state.routes);
        engine.setCertificates(m.state.certificates);
        engine.setChallenges(m.state.challenges);
        engine.setDown(m.state.down);
        await engine.listen();
        send({ type: 'listening' });
      } catch (e: unknown) {
        // Any failure to start (a port, or a bug) fails startProxy at once instead of leaving it waiting.
        const f = e as Partial<ListenFailure>;
        send({ type: 'listen-error', message: f.message ?? String(e), ...(f.code !== undefined ? { code: f.code } : {}), ...(f.port !== undefined ? { port: f.port } : {}) });
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
process.on('message', (m: unknown) => {
  if (!isToWorker(m)) return;
  handle(m).catch((e: unknown) => {
    process.stderr.write(`volt ingress worker ${process.pid}: ${m.type} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  });
});
