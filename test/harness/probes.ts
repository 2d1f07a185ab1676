import type { ExecOptions, NsRunner } from './netns';
import { HarnessError, type RunResult } from './run';

export interface PingOptions {
  /** Echo requests to send (default 1); success if any is answered. */
  count?: number;
  /** Seconds to wait for each reply (default 2). */
  timeoutS?: number;
}

/** One round of `ping` from inside a namespace; true if a reply came back. */
export async function ping(
  from: { exec(cmd: string, args: string[], opts?: ExecOptions): Promise<RunResult> },
  address: string,
  opts: PingOptions = {},
): Promise<boolean> {
  const count = Math.max(1, opts.count ?? 1);
  const timeoutS = Math.max(1, opts.timeoutS ?? 2);
  // -c/-W without -w: exactly `count` requests, 0.2 s apart, each waited for up to timeoutS.
  const r = await from.exec('ping', ['-n', '-q', '-i', '0.2', '-c', String(count), '-W', String(timeoutS), address], {
    timeoutMs: (count * (timeoutS + 1) + 10) * 1000,
  });
  return r.code === 0;
}

export interface TcpProbeOptions {
  /** Port to listen on / connect to (default: random in 20000–29999). */
  port?: number;
  /** Address the listener binds (default 0.0.0.0). */
  listenAddress?: string;
  /** Bound on the whole probe (default 5000 ms); a dropped SYN fails within it. */
  timeoutMs?: number;
}

export interface TcpProbeResult {
  connected: boolean;
  /** The client's address as the listener saw it (after any NAT). */
  peerAddress?: string;
  /** What the client printed (OK, ERROR <code>, TIMEOUT, CLOSED). */
  detail: string;
  port: number;
}

const SERVER_JS = `
const net = require('net');
const [host, port, ms] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const timer = setTimeout(() => { console.log('TIMEOUT'); process.exit(2); }, ms);
const server = net.createServer((c) => {
  console.log('PEER ' + c.remoteAddress);
  c.on('error', () => {});
  c.end('VOLT-PROBE-OK\\n', () => { clearTimeout(timer); server.close(); setTimeout(() => process.exit(0), 20); });
});
server.on('error', (e) => { console.log('ERROR ' + (e.code || e.message)); process.exit(3); });
server.listen(port, host, () => console.log('LISTENING'));
`;

const CLIENT_JS = `
const net = require('net');
const [host, port, ms] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let buf = '';
const finish = (code, word) => { console.log(word); process.exit(code); };
setTimeout(() => finish(2, 'TIMEOUT'), ms);
const c = net.connect({ host, port });
c.on('data', (d) => { buf += d; if (buf.includes('VOLT-PROBE-OK')) finish(0, 'OK'); });
c.on('error', (e) => finish(1, 'ERROR ' + (e.code || e.message)));
c.on('close', () => finish(buf.includes('VOLT-PROBE-OK') ? 0 : 1, buf.includes('VOLT-PROBE-OK') ? 'OK' : 'CLOSED'));
`;

/**
 * Start a one-shot TCP listener (node) in `server`'s namespace and connect to
 * `connectAddress` from `client`'s namespace. Bounded by opts.timeoutMs.
 */
export async function tcpProbeInfo(server: NsRunner, client: NsRunner, connectAddress: string, opts: TcpProbeOptions = {}): Promise<TcpProbeResult> {
  const port = opts.port ?? 20000 + Math.floor(Math.random() * 10000);
  const timeoutMs = opts.timeoutMs ?? 5000;
  const listener = server.spawn(process.execPath, ['-e', SERVER_JS, opts.listenAddress ?? '0.0.0.0', String(port), String(timeoutMs + 5000)]);
  try {
    const m = await listener.waitForOutput(/^(LISTENING|ERROR .*)$/m, { timeoutMs: 10_000 });
    if (m[1] !== 'LISTENING') throw new HarnessError(`tcp probe listener in ${server.netns} failed: ${m[1] ?? ''}`);
    const r = await client.exec(process.execPath, ['-e', CLIENT_JS, connectAddress, String(port), String(timeoutMs)], {
      timeoutMs: timeoutMs + 10_000,
    });
    const detail = r.stdout.trim().split('\n').pop() ?? '';
    const connected = r.code === 0;
    let peerAddress: string | undefined;
    if (connected) {
      const peer = await listener.waitForOutput(/^PEER (\S+)$/m, { timeoutMs: 2000 }).catch(() => undefined);
      peerAddress = peer?.[1];
    }
    return { connected, peerAddress, detail, port };
  } finally {
    await listener.stop('SIGKILL', 1000);
  }
}

/** tcpProbeInfo(...).connected */
export async function tcpProbe(server: NsRunner, client: NsRunner, connectAddress: string, opts: TcpProbeOptions = {}): Promise<boolean> {
  return (await tcpProbeInfo(server, client, connectAddress, opts)).connected;
}
