import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExecutionContext } from 'ava';
import {
  ContainerNs,
  Netns,
  OutsideNs,
  RUN_PREFIX,
  cleanupLeftovers,
  createNetns,
  deleteNetns,
  type SpawnOptions,
} from './netns';
import { NETWORKD_SANDBOX_SCRIPT, VOLT_BIN } from './paths';
import { trackDir, untrackDir } from './registry';
import { BackgroundProcess, HarnessError, formatResult, runOk, sanitizeEnv, type RunResult } from './run';

export interface SandboxOptions {
  /** Start real dbus + systemd-networkd inside the sandbox host. */
  networkd?: boolean;
  /** Default true: an "outside" namespace connected to the host by a veth (see UPLINK). */
  uplink?: boolean;
  /** YAML written to <root>/etc/volt/config.yaml before anything runs. */
  config?: string;
  /** networkd sandboxes: how long to wait for networkd to answer on the bus (default 10 s). */
  networkdReadyTimeoutMs?: number;
  /**
   * networkd sandboxes: keep networkd's defaults ManageForeignRoutes=yes and
   * ManageForeignRoutingPolicyRules=yes (default false: the sandbox writes a
   * drop-in setting both to no, see networkd-sandbox.sh).
   */
  networkdManageForeign?: boolean;
}

/** The uplink every sandbox gets unless { uplink: false }. */
export const UPLINK = {
  /** Link name in the host. */
  hostLink: 'uplink0',
  hostAddress: '198.18.0.1',
  /** Link name in the outside namespace. */
  outsideLink: 'eth0',
  outsideAddress: '198.18.0.2',
  prefixLength: 24,
  /** On the outside's loopback: reachable from the host only through its default route. */
  internetAddress: '198.51.100.1',
} as const;

export const DEFAULT_VOLT_TIMEOUT_MS = 60_000;

let sandboxCounter = 0;
let staleCleanup: Promise<void> | undefined;

/** Once per process: remove what dead test processes left behind. Never throws. */
function cleanupStaleOnce(): Promise<void> {
  staleCleanup ??= cleanupLeftovers('vt-', { includeOwn: false }).catch((e: unknown) => {
    process.stderr.write(`[harness] stale cleanup: ${e instanceof Error ? e.message : String(e)}\n`);
  });
  return staleCleanup;
}

export interface VoltOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
}

export interface AttachOptions {
  /** Name of the interface inside the container (default eth0). */
  ifname?: string;
  /** Name of the host end (default hx<k>, unique in this host). */
  hostIfname?: string;
}

/**
 * A sandbox "host": its own network namespace (and, with networkd, its own
 * mount namespace with real dbus + systemd-networkd), a fresh VOLT_ROOT, an
 * optional outside namespace playing the internet, and containers.
 */
export class SandboxHost extends Netns {
  /** Unique short id: <pid>-<n>. */
  readonly id: string;
  /** Fresh temp dir used as VOLT_ROOT. */
  readonly root: string;
  /** Temp dir holding root/ and logs/; removed on destroy. */
  readonly workDir: string;
  /** networkd/dbus logs of networkd sandboxes. */
  readonly logDir: string;
  readonly outside?: OutsideNs;
  readonly options: Readonly<SandboxOptions>;
  /** networkd sandboxes: pid of the keeper (inside the sandbox's mount ns), networkd and dbus-daemon. */
  keeperPid?: number;
  networkdPid?: number;
  dbusPid?: number;

  private readonly containers: ContainerNs[] = [];
  private keeper?: BackgroundProcess;
  private containerCounter = 0;
  private vethCounter = 0;
  private destroying?: Promise<void>;

  private constructor(id: string, workDir: string, opts: SandboxOptions) {
    super(`vt-${id}-h`);
    this.id = id;
    this.workDir = workDir;
    this.root = path.join(workDir, 'root');
    this.logDir = path.join(workDir, 'logs');
    this.options = { ...opts };
    if (opts.uplink ?? true) {
      this.outside = new OutsideNs(`vt-${id}-o`, UPLINK.outsideAddress, UPLINK.internetAddress);
    }
  }

  /**
   * Make a sandbox host. With an ava context, destroy() is registered as a
   * teardown (it runs when the test ends, pass or fail).
   */
  static async create(t: ExecutionContext | undefined, opts: SandboxOptions = {}): Promise<SandboxHost> {
    await cleanupStaleOnce();
    const n = ++sandboxCounter;
    const id = `${process.pid}-${n}`;
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `${RUN_PREFIX}${n}-`));
    trackDir(workDir);
    const host = new SandboxHost(id, workDir, opts);
    t?.teardown(() => host.destroy());
    try {
      await host.setup();
    } catch (e: unknown) {
      try {
        await host.destroy();
      } catch (e2: unknown) {
        void e2;
      }
      throw e;
    }
    return host;
  }

  get networkd(): boolean {
    return this.options.networkd === true;
  }

  private async setup(): Promise<void> {
    for (const d of ['etc/volt', 'etc/systemd/network', 'run/systemd/network', 'var/lib/volt']) {
      fs.mkdirSync(path.join(this.root, d), { recursive: true });
    }
    fs.mkdirSync(this.logDir, { recursive: true });
    if (this.options.config !== undefined) {
      fs.writeFileSync(path.join(this.root, 'etc/volt/config.yaml'), this.options.config);
    }
    await createNetns(this.netns);
    if (this.outside) {
      const o = this.outside.netns;
      await createNetns(o);
      const h = ['-n', this.netns];
      await runOk('ip', [...h, 'link', 'add', UPLINK.hostLink, 'type', 'veth', 'peer', 'name', UPLINK.outsideLink, 'netns', o]);
      await runOk('ip', [...h, 'addr', 'add', `${UPLINK.hostAddress}/${UPLINK.prefixLength}`, 'dev', UPLINK.hostLink]);
      await runOk('ip', [...h, 'link', 'set', UPLINK.hostLink, 'up']);
      await runOk('ip', ['-n', o, 'addr', 'add', `${UPLINK.outsideAddress}/${UPLINK.prefixLength}`, 'dev', UPLINK.outsideLink]);
      await runOk('ip', ['-n', o, 'addr', 'add', `${UPLINK.internetAddress}/32`, 'dev', 'lo']);
      await runOk('ip', ['-n', o, 'link', 'set', UPLINK.outsideLink, 'up']);
      await runOk('ip', [...h, 'route', 'add', 'default', 'via', UPLINK.outsideAddress, 'dev', UPLINK.hostLink]);
    }
    if (this.networkd) await this.startNetworkd();
  }

  private async startNetworkd(): Promise<void> {
    const readyMs = this.options.networkdReadyTimeoutMs ?? 10_000;
    const keeper = new BackgroundProcess(
      'ip',
      ['netns', 'exec', this.netns, 'unshare', '-m', '--propagation', 'slave', 'bash', NETWORKD_SANDBOX_SCRIPT, this.root, this.logDir, String(process.pid)],
      {
        env: {
          ...process.env,
          VOLT_SANDBOX_READY_TIMEOUT_DS: String(Math.max(1, Math.ceil(readyMs / 100))),
          VOLT_SANDBOX_MANAGE_FOREIGN: this.options.networkdManageForeign === true ? 'yes' : 'no',
        },
      },
    );
    this.keeper = keeper;
    let m: RegExpMatchArray;
    try {
      m = await keeper.waitForOutput(/^(?:READY (\d+) (\d+) (\d+)|FAIL (.*))$/m, { timeoutMs: readyMs + 10_000 });
    } catch (e: unknown) {
      throw new HarnessError(
        `networkd sandbox ${this.id} did not start: ${e instanceof Error ? e.message : String(e)}\n--- networkd log ---\n${this.networkdLog(40)}`,
      );
    }
    if (m[4] !== undefined) {
      throw new HarnessError(
        `networkd sandbox ${this.id} failed: ${m[4]}\n--- keeper stderr ---\n${keeper.stderr}\n--- networkd log ---\n${this.networkdLog(40)}`,
      );
    }
    this.keeperPid = Number(m[1]);
    this.networkdPid = Number(m[2]);
    this.dbusPid = Number(m[3]);
  }

  /** The last `lines` lines of networkd's log (networkd sandboxes; empty otherwise). */
  networkdLog(lines = 100): string {
    try {
      const text = fs.readFileSync(path.join(this.logDir, 'networkd.log'), 'utf8');
      return text.split('\n').slice(-lines).join('\n');
    } catch (e: unknown) {
      void e;
      return '';
    }
  }

  protected override commandPrefix(): string[] {
    if (this.networkd) {
      if (this.keeperPid === undefined) throw new HarnessError(`networkd sandbox ${this.id} is not running`);
      return ['nsenter', '-t', String(this.keeperPid), '-m', '-n', `--wd=${process.cwd()}`, '--'];
    }
    return super.commandPrefix();
  }

  protected override baseEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    return this.env(extra);
  }

  /**
   * Environment for programs in this host: the test's environment with VOLT_ROOT=root,
   * PATH cleaned of node_modules/.bin (see sanitizeEnv), plus `extra`.
   */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    return sanitizeEnv({ ...process.env, VOLT_ROOT: this.root, ...extra });
  }

  /** Run `node core/bin/run.js ...args` inside the host. */
  volt(args: string[], opts: VoltOptions = {}): Promise<RunResult> {
    return this.exec(process.execPath, [VOLT_BIN, ...args], {
      env: opts.env,
      input: opts.input,
      timeoutMs: opts.timeoutMs ?? DEFAULT_VOLT_TIMEOUT_MS,
    });
  }

  /** volt() that must exit 0; throws with the output otherwise. */
  async voltOk(args: string[], opts: VoltOptions = {}): Promise<RunResult> {
    const r = await this.volt(args, opts);
    if (r.code !== 0) throw new HarnessError(`volt ${args.join(' ')} failed in ${this.netns}\n${formatResult(r)}`, r);
    return r;
  }

  /** volt() that must exit 0, stdout parsed as JSON. */
  async voltJson<T = unknown>(args: string[], opts: VoltOptions = {}): Promise<T> {
    const r = await this.voltOk(args, opts);
    try {
      return JSON.parse(r.stdout) as T;
    } catch (e: unknown) {
      throw new HarnessError(`volt ${args.join(' ')} printed invalid JSON (${e instanceof Error ? e.message : String(e)})\n${formatResult(r)}`, r);
    }
  }

  /** Start a long-running volt command (e.g. `dns serve`) inside the host; stopped on destroy. */
  spawnVolt(args: string[], opts: SpawnOptions = {}): BackgroundProcess {
    return this.spawn(process.execPath, [VOLT_BIN, ...args], opts);
  }

  /** A new named netns (lo up), removed on destroy. `name` becomes part of the netns name. */
  async addContainer(name?: string): Promise<ContainerNs> {
    const k = ++this.containerCounter;
    const label = name === undefined ? '' : name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40);
    const netns = `vt-${this.id}-c${k}${label === '' ? '' : `-${label}`}`;
    const c = new ContainerNs(netns, name ?? `c${k}`);
    this.containers.push(c);
    await createNetns(netns);
    return c;
  }

  /**
   * Plug a container into `bridge` (which must exist in the host) with a veth:
   * host end enslaved and up, peer moved into the container as eth0 with `cidr`,
   * up, default route via `gateway`. Returns the host end's name.
   */
  async attachRaw(c: ContainerNs, bridge: string, cidr: string, gateway: string, opts: AttachOptions = {}): Promise<string> {
    const k = ++this.vethCounter;
    const hostIf = opts.hostIfname ?? `hx${k}`;
    const ifname = opts.ifname ?? 'eth0';
    if (hostIf.length > 15 || ifname.length > 15) throw new HarnessError(`interface name too long: ${hostIf} / ${ifname}`);
    const h = ['-n', this.netns];
    await runOk('ip', [...h, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', ifname, 'netns', c.netns]);
    await runOk('ip', [...h, 'link', 'set', hostIf, 'master', bridge]);
    await runOk('ip', [...h, 'link', 'set', hostIf, 'up']);
    await runOk('ip', ['-n', c.netns, 'addr', 'add', cidr, 'dev', ifname]);
    await runOk('ip', ['-n', c.netns, 'link', 'set', ifname, 'up']);
    await runOk('ip', ['-n', c.netns, 'route', 'replace', 'default', 'via', gateway, 'dev', ifname]);
    return hostIf;
  }

  /** Every namespace of this sandbox: containers, outside, host. */
  namespaces(): string[] {
    return [...this.containers.map((c) => c.netns), ...(this.outside ? [this.outside.netns] : []), this.netns];
  }

  /**
   * Stop background processes, networkd and dbus (the keeper), delete every
   * namespace it made and the temp dir. Idempotent; safe after a failed create.
   */
  destroy(): Promise<void> {
    this.destroying ??= this.doDestroy();
    return this.destroying;
  }

  private async doDestroy(): Promise<void> {
    const errors: string[] = [];
    const attempt = async (what: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
      } catch (e: unknown) {
        errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    await attempt('stop host processes', () => this.stopChildren());
    for (const c of this.containers) await attempt(`stop processes in ${c.netns}`, () => c.stopChildren());
    if (this.outside) {
      const o = this.outside;
      await attempt(`stop processes in ${o.netns}`, () => o.stopChildren());
    }
    if (this.keeper) {
      const keeper = this.keeper;
      await attempt('stop networkd keeper', async () => {
        await keeper.stop('SIGTERM', 5000);
      });
    }
    for (const ns of this.namespaces()) await attempt(`delete netns ${ns}`, () => deleteNetns(ns));
    await attempt(`remove ${this.workDir}`, async () => {
      fs.rmSync(this.workDir, { recursive: true, force: true });
      untrackDir(this.workDir);
    });
    if (errors.length > 0) throw new HarnessError(`destroy sandbox ${this.id}: ${errors.join('; ')}`);
  }
}
