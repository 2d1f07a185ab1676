import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { Sandbox } from './sandbox';
import type { DriverHostAnswer, DriverHostConfig } from './driver-host';

const HOST = path.join(__dirname, 'driver-host.js');

/** The kit's side of driver-host.js: one long-lived driver process inside the sandbox. */
export class DriverClient {
  private readonly child: ChildProcess;
  private readonly queue: ((a: DriverHostAnswer | Error) => void)[] = [];
  private stderr = '';
  private exited?: string;

  constructor(sb: Sandbox, config: DriverHostConfig) {
    const [bin, ...args] = [...sb.prefix(), process.execPath, HOST, JSON.stringify(config)];
    const env = { ...process.env, VOLT_ROOT: sb.voltRoot };
    this.child = spawn(bin!, args, { env, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    // The driver's own output (stdout, stderr) is kept for messages; answers come on fd 3.
    for (const s of [this.child.stdout!, this.child.stderr!]) s.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-4000)));
    readline.createInterface({ input: this.child.stdio[3] as Readable }).on('line', (line) => {
      const w = this.queue.shift();
      if (!w) return;
      try {
        w(JSON.parse(line) as DriverHostAnswer);
      } catch {
        w(new Error(`driver process printed something that is not an answer: ${line.slice(0, 200)}`));
      }
    });
    this.child.on('exit', (code, signal) => {
      this.exited = `driver process exited (${signal ?? code})${this.stderr ? `: ${this.stderr.trim()}` : ''}`;
      for (const w of this.queue.splice(0)) w(new Error(this.exited));
    });
    this.child.stdin!.on('error', () => undefined);
  }

  /** Call a driver method; the answer says whether it threw (never rejects for a driver error). */
  call(method: string, ...args: unknown[]): Promise<DriverHostAnswer> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method} did not return within 120 s`)), 120_000);
      this.queue.push((a) => {
        clearTimeout(timer);
        if (a instanceof Error) reject(a);
        else resolve(a);
      });
      (this.child.stdin as Writable).write(JSON.stringify({ method, args }) + '\n');
    });
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      this.child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      this.child.stdin!.end();
    });
  }
}
