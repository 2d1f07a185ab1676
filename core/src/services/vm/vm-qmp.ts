import * as net from 'node:net';

/** A QMP (QEMU Machine Protocol) session over QEMU's unix socket: one JSON object per line. */
export class QmpSession {
  private buffer = '';
  private pending: { resolve(v: unknown): void; reject(e: Error): void }[] = [];
  private greeted: Promise<void>;
  private closedError?: Error;

  private constructor(private readonly socket: net.Socket) {
    let greet!: () => void;
    let fail!: (e: Error) => void;
    this.greeted = new Promise<void>((res, rej) => {
      greet = res;
      fail = rej;
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (line === '') continue;
        let msg: { QMP?: unknown; return?: unknown; error?: { class?: string; desc?: string }; event?: string };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          continue;
        }
        if (msg.QMP !== undefined) greet();
        else if (msg.event !== undefined) continue;
        else if (msg.error !== undefined) this.pending.shift()?.reject(new Error(`${msg.error.class ?? 'Error'}: ${msg.error.desc ?? ''}`));
        else if ('return' in msg) this.pending.shift()?.resolve(msg.return);
      }
    });
    const onEnd = (e?: Error): void => {
      this.closedError = e ?? new Error('QMP connection closed');
      fail(this.closedError);
      for (const p of this.pending.splice(0)) p.reject(this.closedError);
    };
    socket.on('error', (e) => onEnd(e));
    socket.on('close', () => onEnd());
  }

  /** Connect, read the greeting and leave capabilities negotiation mode. */
  static async connect(socketPath: string, timeoutMs = 5000): Promise<QmpSession> {
    const socket = net.connect(socketPath);
    const session = new QmpSession(socket);
    const timer = setTimeout(() => socket.destroy(new Error(`no QMP greeting on ${socketPath} within ${timeoutMs} ms`)), timeoutMs);
    try {
      await session.greeted;
      await session.execute('qmp_capabilities');
      return session;
    } catch (e: unknown) {
      socket.destroy();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args }) + '\n');
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One command in its own session; undefined when QEMU cannot be reached. */
export async function qmpOnce(socketPath: string, command: string, args?: Record<string, unknown>, timeoutMs = 3000): Promise<unknown> {
  const s = await QmpSession.connect(socketPath, timeoutMs);
  try {
    return await s.execute(command, args);
  } finally {
    s.close();
  }
}
