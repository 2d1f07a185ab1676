import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  BackgroundProcess,
  DEFAULT_EXEC_TIMEOUT_MS,
  HarnessError,
  formatResult,
  describeCommand,
  run,
  runOk,
  sleep,
  type RunOptions,
  type RunResult,
} from './run';
import { destroyNetnsSync, netnsPidsSync, trackNetns, untrackDir, untrackNetns } from './registry';

/** Every namespace and temp dir this process makes starts with this (`vt-<pid>-`). */
export const RUN_PREFIX = `vt-${process.pid}-`;

/** Names the harness gives namespaces: vt-<pid>-<n>-h | -o | -c<k>[-label]. */
export const HARNESS_NETNS_RE = /^vt-(\d+)-(\d+)-(?:h|o|c\d+(?:-[A-Za-z0-9_.-]+)?)$/;

/** Temp dirs the harness makes: <tmpdir>/vt-<pid>-<n>-XXXXXX. */
export const HARNESS_DIR_RE = /^vt-(\d+)-(\d+)-[A-Za-z0-9]{6}$/;

export interface ExecOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
}

/** Anything that can run programs inside a namespace (hosts, containers, the outside). */
export interface NsRunner {
  readonly netns: string;
  exec(cmd: string, args: string[], opts?: ExecOptions): Promise<RunResult>;
  spawn(cmd: string, args: string[], opts?: SpawnOptions): BackgroundProcess;
}

/** Names in /run/netns (`ip netns list`). */
export async function listNetns(): Promise<string[]> {
  const r = await runOk('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

/** Create a named namespace with lo up. Registered for cleanup before it exists. */
export async function createNetns(name: string): Promise<void> {
  if (name.length > 200 || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new HarnessError(`bad netns name ${JSON.stringify(name)}`);
  }
  trackNetns(name);
  await runOk('ip', ['netns', 'add', name]);
  await runOk('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

/**
 * Kill every process in the namespace, delete its name, and check it is gone.
 * Missing namespaces are fine (idempotent).
 */
export async function deleteNetns(name: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = netnsPidsSync(name);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (e: unknown) {
        void e;
      }
    }
    if (Date.now() > deadline) {
      throw new HarnessError(`processes ${pids.join(' ')} in netns ${name} did not die within ${timeoutMs} ms`);
    }
    await sleep(50);
  }
  if (fs.existsSync(`/run/netns/${name}`)) {
    const r = await run('ip', ['netns', 'del', name]);
    if (r.code !== 0 && fs.existsSync(`/run/netns/${name}`)) {
      throw new HarnessError(`ip netns del ${name} failed\n${formatResult(r)}`, r);
    }
  }
  untrackNetns(name);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: unknown) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface CleanupOptions {
  /** Also delete this process's own namespaces (default true). */
  includeOwn?: boolean;
}

/**
 * Delete harness namespaces (and temp dirs) whose names start with `prefix`
 * (default: this run's `vt-<pid>-`). With a broader prefix such as 'vt-', only
 * those left behind by processes that no longer exist are removed, plus this
 * process's own unless includeOwn is false. Names that do not follow the
 * harness pattern are never touched.
 */
export async function cleanupLeftovers(prefix: string = RUN_PREFIX, opts: CleanupOptions = {}): Promise<void> {
  const includeOwn = opts.includeOwn ?? true;
  const doomed = (name: string, re: RegExp): boolean => {
    if (!name.startsWith(prefix)) return false;
    const m = re.exec(name);
    if (!m) return false;
    const pid = Number(m[1]);
    if (pid === process.pid) return includeOwn;
    return !pidAlive(pid);
  };
  const errors: string[] = [];
  for (const name of await listNetns()) {
    if (!doomed(name, HARNESS_NETNS_RE)) continue;
    try {
      await deleteNetns(name);
    } catch (e: unknown) {
      errors.push(e instanceof Error ? e.message : String(e));
    }
  }
  const tmp = os.tmpdir();
  for (const entry of fs.readdirSync(tmp)) {
    if (!doomed(entry, HARNESS_DIR_RE)) continue;
    const dir = path.join(tmp, entry);
    try {
      fs.rmSync(dir, { recursive: true, force: true });
      untrackDir(dir);
    } catch (e: unknown) {
      errors.push(`rm ${dir}: ${String(e)}`);
    }
  }
  if (errors.length > 0) throw new HarnessError(`cleanupLeftovers: ${errors.join('; ')}`);
}

/** Synchronous variant of deleteNetns for exit paths. */
export function deleteNetnsSync(name: string): void {
  destroyNetnsSync(name);
  untrackNetns(name);
}

/**
 * A named network namespace the harness owns, reached with `ip netns exec`.
 * Background processes started with spawn() are stopped by stopChildren()
 * (the owning sandbox calls it on destroy).
 */
export class Netns implements NsRunner {
  private readonly children = new Set<BackgroundProcess>();

  constructor(readonly netns: string) {}

  protected commandPrefix(): string[] {
    return ['ip', 'netns', 'exec', this.netns];
  }

  protected baseEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    return { ...process.env, ...extra };
  }

  /** Run a program inside the namespace. A non-zero exit resolves; a timeout rejects. */
  async exec(cmd: string, args: string[], opts: ExecOptions = {}): Promise<RunResult> {
    const [bin, ...pre] = this.commandPrefix();
    const ro: RunOptions = {
      input: opts.input,
      timeoutMs: opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS,
      env: this.baseEnv(opts.env),
    };
    return run(bin ?? cmd, [...pre, cmd, ...args], ro);
  }

  /** exec() that must exit 0; returns stdout parsed as JSON. */
  async execJson<T = unknown>(cmd: string, args: string[], opts: ExecOptions = {}): Promise<T> {
    const r = await this.exec(cmd, args, opts);
    if (r.code !== 0) {
      throw new HarnessError(`in ${this.netns}: ${describeCommand(cmd, args)} failed\n${formatResult(r)}`, r);
    }
    try {
      return JSON.parse(r.stdout) as T;
    } catch (e: unknown) {
      throw new HarnessError(
        `in ${this.netns}: ${describeCommand(cmd, args)} printed invalid JSON (${e instanceof Error ? e.message : String(e)})\n${formatResult(r)}`,
        r,
      );
    }
  }

  /** exec() that must exit 0. */
  async execOk(cmd: string, args: string[], opts: ExecOptions = {}): Promise<RunResult> {
    const r = await this.exec(cmd, args, opts);
    if (r.code !== 0) {
      throw new HarnessError(`in ${this.netns}: ${describeCommand(cmd, args)} failed\n${formatResult(r)}`, r);
    }
    return r;
  }

  /** `ip -j <args>` inside the namespace, parsed. */
  ipJson<T = unknown>(args: string[]): Promise<T> {
    return this.execJson<T>('ip', ['-j', ...args]);
  }

  /** Start a long-running program inside the namespace. */
  spawn(cmd: string, args: string[], opts: SpawnOptions = {}): BackgroundProcess {
    const [bin, ...pre] = this.commandPrefix();
    const p = new BackgroundProcess(bin ?? cmd, [...pre, cmd, ...args], { env: this.baseEnv(opts.env), input: opts.input });
    this.children.add(p);
    void p.exited.then(() => this.children.delete(p));
    return p;
  }

  /** Stop every background process started through spawn(). */
  async stopChildren(): Promise<void> {
    await Promise.all([...this.children].map((p) => p.stop()));
    this.children.clear();
  }
}

/** A container: a bare named netns with lo up. */
export class ContainerNs extends Netns {
  constructor(
    netns: string,
    /** The label given to addContainer (or c<k>). */
    readonly name: string,
  ) {
    super(netns);
  }
}

/** The namespace that plays the internet at the far end of the host's uplink. */
export class OutsideNs extends Netns {
  constructor(
    netns: string,
    /** Its address on the uplink (the host's default gateway). */
    readonly address: string,
    /** An address on its loopback, reachable only through the host's default route. */
    readonly internetAddress: string,
  ) {
    super(netns);
  }
}
