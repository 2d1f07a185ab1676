import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { trackPid, untrackPid } from './registry';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export const DEFAULT_EXEC_TIMEOUT_MS = 30_000;

const SYSTEM_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * The environment for programs the harness starts: PATH without any
 * node_modules/.bin entries (npm/npx/ava put them first, and
 * node_modules/.bin/nft is @vercel/nft, not nftables), with the system
 * directories present.
 */
export function sanitizeEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const parts = (env.PATH ?? '').split(':').filter((p) => p !== '' && !/(^|\/)node_modules\/\.bin\/?$/.test(p));
  for (const dir of SYSTEM_PATH) if (!parts.includes(dir)) parts.push(dir);
  return { ...env, PATH: parts.join(':') };
}

/** Thrown when a harness step fails; the message says what, and carries the output. */
export class HarnessError extends Error {
  constructor(message: string, readonly result?: RunResult) {
    super(message);
    this.name = 'HarnessError';
  }
}

export function quoteArg(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

export function describeCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map(quoteArg).join(' ');
}

function tail(text: string, max = 4000): string {
  return text.length <= max ? text : `…${text.slice(text.length - max)}`;
}

export function formatResult(result: RunResult): string {
  return `exit ${result.code}\n--- stdout ---\n${tail(result.stdout)}\n--- stderr ---\n${tail(result.stderr)}`;
}

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  if (signal !== null) {
    const signals: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
    return 128 + (signals[signal] ?? 0);
  }
  return -1;
}

/**
 * Run a program to completion. Resolves with its exit code and output (a
 * non-zero exit is not an error); rejects if it cannot be started or does not
 * finish within timeoutMs (it is then killed).
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  return new Promise<RunResult>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd, [...args], {
        env: sanitizeEnv(opts.env ?? process.env),
        cwd: opts.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (e: unknown) {
      reject(new HarnessError(`cannot start ${describeCommand(cmd, args)}: ${String(e)}`));
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let settled = false;
    const pid = child.pid;
    if (pid !== undefined) trackPid(pid);
    const current = (code: number): RunResult => ({
      code,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
    });
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      const r = current(-1);
      reject(new HarnessError(`timed out after ${timeoutMs} ms: ${describeCommand(cmd, args)}\n${formatResult(r)}`, r));
    }, timeoutMs);
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: Error) => {
      if (pid !== undefined) untrackPid(pid);
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new HarnessError(`cannot run ${describeCommand(cmd, args)}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (pid !== undefined) untrackPid(pid);
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(current(exitCode(code, signal)));
    });
    child.stdin?.on('error', () => undefined); // EPIPE when the program does not read its input
    child.stdin?.end(opts.input ?? '');
  });
}

/** run(), throwing a HarnessError (with the output) unless the program exits 0. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new HarnessError(`command failed: ${describeCommand(cmd, args)}\n${formatResult(r)}`, r);
  }
  return r;
}

/** Synchronous variant for exit paths; never throws. */
export function runSync(cmd: string, args: readonly string[], timeoutMs = 10_000): RunResult {
  const r = spawnSync(cmd, [...args], { encoding: 'utf8', timeout: timeoutMs, env: sanitizeEnv(process.env) });
  return {
    code: r.error ? -1 : exitCode(r.status, r.signal),
    stdout: typeof r.stdout === 'string' ? r.stdout : '',
    stderr: (typeof r.stderr === 'string' ? r.stderr : '') + (r.error ? String(r.error) : ''),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Used in the error message: "timed out after N ms waiting for <description>". */
  description?: string;
}

/**
 * Poll `probe` until it returns something other than undefined/false/null and
 * return that. Exceptions thrown by the probe count as "not yet" (the last one
 * is reported on timeout).
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: WaitForOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v;
      last = undefined;
    } catch (e: unknown) {
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() >= deadline) {
      throw new HarnessError(
        `timed out after ${timeoutMs} ms waiting for ${opts.description ?? 'condition'}` +
          (last !== undefined ? `; last error: ${last}` : ''),
      );
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

/**
 * A long-running program (a server, `volt dns serve`, a listener) started in
 * a namespace. Its output is collected; stop() ends it. Owners (sandboxes)
 * stop what they started on destroy; the process-exit handler kills it too.
 */
export class BackgroundProcess {
  readonly pid: number;
  readonly command: string;
  /** Resolves when the program has exited (never rejects). */
  readonly exited: Promise<RunResult>;
  private readonly child: ChildProcess;
  private readonly out: Buffer[] = [];
  private readonly err: Buffer[] = [];
  private result: RunResult | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}) {
    this.command = describeCommand(cmd, args);
    this.child = spawn(cmd, [...args], {
      env: sanitizeEnv(opts.env ?? process.env),
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (this.child.pid === undefined) {
      // spawn failures surface through 'error'; give a pid-less handle a clear state
      this.pid = -1;
    } else {
      this.pid = this.child.pid;
      trackPid(this.pid);
    }
    this.child.stdout?.on('data', (b: Buffer) => {
      this.out.push(b);
      this.notify();
    });
    this.child.stderr?.on('data', (b: Buffer) => {
      this.err.push(b);
      this.notify();
    });
    this.exited = new Promise<RunResult>((resolve) => {
      const finish = (code: number, extra = ''): void => {
        if (this.pid > 0) untrackPid(this.pid);
        if (this.result !== undefined) return;
        this.result = { code, stdout: this.stdout, stderr: this.stderr + extra };
        this.notify();
        resolve(this.result);
      };
      this.child.on('error', (e: Error) => finish(-1, `\n[harness] ${e.message}`));
      this.child.on('close', (code, signal) => finish(exitCode(code, signal)));
    });
    this.child.stdin?.on('error', () => undefined);
    if (opts.input !== undefined) this.child.stdin?.end(opts.input);
  }

  get stdout(): string {
    return Buffer.concat(this.out).toString('utf8');
  }

  get stderr(): string {
    return Buffer.concat(this.err).toString('utf8');
  }

  get running(): boolean {
    return this.result === undefined;
  }

  /** Write to the program's stdin. */
  write(data: string): void {
    this.child.stdin?.write(data);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /**
   * Wait until stdout (or stderr, with stream 'stderr'/'any') matches `pattern`;
   * returns the match. Rejects, with the output so far, on timeout or if the
   * program exits first.
   */
  waitForOutput(pattern: RegExp, opts: { timeoutMs?: number; stream?: 'stdout' | 'stderr' | 'any' } = {}): Promise<RegExpMatchArray> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const stream = opts.stream ?? 'stdout';
    return new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = (): boolean => {
        const text = stream === 'stdout' ? this.stdout : stream === 'stderr' ? this.stderr : `${this.stdout}\n${this.stderr}`;
        const m = text.match(pattern);
        if (m) {
          done();
          resolve(m);
          return true;
        }
        if (this.result !== undefined) {
          done();
          reject(new HarnessError(`${this.command} exited before printing ${String(pattern)}\n${formatResult(this.result)}`, this.result));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        const r = { code: -1, stdout: this.stdout, stderr: this.stderr };
        reject(new HarnessError(`timed out after ${timeoutMs} ms waiting for ${String(pattern)} from ${this.command}\n${formatResult(r)}`, r));
      }, timeoutMs);
      const waiter = (): void => {
        check();
      };
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      this.waiters.add(waiter);
      check();
    });
  }

  /** Send `signal` (default SIGTERM), wait up to graceMs, then SIGKILL. Idempotent. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<RunResult> {
    if (this.result !== undefined) return this.result;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    if (timer !== undefined) clearTimeout(timer);
    if (timedOut) {
      this.child.kill('SIGKILL');
    }
    return this.exited;
  }
}
