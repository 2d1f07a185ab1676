import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { ExecutionContext } from 'ava';
import { sanitizeEnv } from '../harness';
import type { NicRunnerAnswer, NicRunnerConfig, NicRunnerRequest } from './300-vm-nic-runner';

const RUNNER = path.join(__dirname, '300-vm-nic-runner.js');

/** A long-lived 300-vm-nic-runner inside a namespace (argv prefix such as `ip netns exec NS`), stopped at teardown. */
export class NicRunner {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly answers: NicRunnerAnswer[] = [];
  private waiting: ((a: NicRunnerAnswer) => void) | undefined;
  private stderr = '';

  constructor(t: ExecutionContext, prefix: string[], config: NicRunnerConfig, env: NodeJS.ProcessEnv = process.env) {
    const [bin, ...args] = [...prefix, process.execPath, RUNNER, JSON.stringify(config)];
    this.child = spawn(bin!, args, { env: sanitizeEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      const a = JSON.parse(line) as NicRunnerAnswer;
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(a);
      } else this.answers.push(a);
    });
    t.teardown(() => this.stop());
  }

  request(req: NicRunnerRequest, timeoutMs = 30_000): Promise<NicRunnerAnswer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`runner did not answer ${req.op} within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      const done = (a: NicRunnerAnswer): void => {
        clearTimeout(timer);
        resolve(a);
      };
      const queued = this.answers.shift();
      if (queued) done(queued);
      else this.waiting = done;
      this.child.stdin.write(JSON.stringify(req) + '\n');
    });
  }

  /** request() that must succeed. */
  async ok(req: NicRunnerRequest, timeoutMs?: number): Promise<NicRunnerAnswer> {
    const a = await this.request(req, timeoutMs);
    if (!a.ok) throw new Error(`${req.op} failed: ${a.error?.code ?? ''} ${a.error?.message ?? ''}`);
    return a;
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.stdin.end();
      setTimeout(() => this.child.kill('SIGKILL'), 3000).unref();
    });
  }
}
