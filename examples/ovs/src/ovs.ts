import { accessSync, constants as fsConstants, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { HostContext } from '@volt/sdk';
import { DriverError, UserInputError } from '@volt/sdk';
import { runCommand, type RunResult } from '@volt/sdk/kernel';

/*
 * Where this driver's Open vSwitch lives, and the daemons behind it.
 *
 * Two modes (docs/drivers.md, "Open vSwitch"):
 *   - managed (default): the driver runs a private ovsdb-server and ovs-vswitchd in the network
 *     namespace volt runs in, with every file under <VOLT_ROOT>/run/volt/ovs. It starts them the
 *     first time a bridge is set up and stops them (and removes the directory) when the last
 *     bridge is torn down.
 *   - site: VOLT_OVS_DB names the ovsdb of an Open vSwitch the site runs itself
 *     ("unix:/run/openvswitch/db.sock"); the driver never starts or stops a daemon then.
 * VOLT_OVS_DATAPATH picks the datapath of new bridges: "netdev" (userspace, the default; needs no
 * kernel module) or "system" (the openvswitch kernel module).
 */

export interface OvsSettings {
  /** ovsdb remote for ovs-vsctl ("unix:/path/db.sock"). */
  db: string;
  /** The driver runs the daemons itself (VOLT_OVS_DB unset). */
  managed: boolean;
  /** Runtime directory of the managed daemons (sockets, pid files, logs, conf.db). */
  dir: string;
  datapath: string;
  schema: string;
}

export function ovsSettings(host: HostContext, env: NodeJS.ProcessEnv = process.env): OvsSettings {
  const dir = join(host.paths.runDir, 'ovs');
  const site = env.VOLT_OVS_DB !== undefined && env.VOLT_OVS_DB !== '' ? env.VOLT_OVS_DB : undefined;
  return {
    db: site ?? `unix:${join(dir, 'db.sock')}`,
    managed: site === undefined,
    dir,
    datapath: env.VOLT_OVS_DATAPATH !== undefined && env.VOLT_OVS_DATAPATH !== '' ? env.VOLT_OVS_DATAPATH : 'netdev',
    schema: env.VOLT_OVS_SCHEMA ?? '/usr/share/openvswitch/vswitch.ovsschema',
  };
}

/** The programs the driver runs; the managed mode needs the daemons too. */
export const CLIENT_TOOLS = ['ovs-vsctl', 'ovs-ofctl'] as const;
export const DAEMON_TOOLS = ['ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-appctl'] as const;

/** Longest path of a unix socket (sun_path, with its NUL). */
const SUN_PATH_MAX = 107;

export class Ovs {
  readonly settings: OvsSettings;

  constructor(private readonly host: HostContext, env: NodeJS.ProcessEnv = process.env) {
    this.settings = ovsSettings(host, env);
  }

  /** Environment for the OVS tools: a managed instance keeps its run, db and log directories to itself. */
  private env(): NodeJS.ProcessEnv {
    if (!this.settings.managed) return process.env;
    const d = this.settings.dir;
    return { ...process.env, OVS_RUNDIR: d, OVS_DBDIR: d, OVS_LOGDIR: d, OVS_SYSCONFDIR: d };
  }

  /** Which tools are missing from PATH (changes nothing). */
  missingTools(): string[] {
    const wanted: string[] = [...CLIENT_TOOLS, ...(this.settings.managed ? DAEMON_TOOLS : [])];
    const missing = wanted.filter((t) => !executableInPath(t));
    if (this.settings.managed && !existsSync(this.settings.schema)) missing.push(this.settings.schema);
    return missing;
  }

  run(cmd: string, args: readonly string[], input?: string): Promise<RunResult> {
    return runCommand(cmd, args, { env: this.env(), timeoutMs: 30_000, ...(input === undefined ? {} : { input }) });
  }

  /** ovs-vsctl against our ovsdb; never throws (read the result). */
  vsctlRaw(args: readonly string[]): Promise<RunResult> {
    return this.run('ovs-vsctl', [`--db=${this.settings.db}`, '--timeout=20', ...args]);
  }

  /** ovs-vsctl that must succeed; `what` says what we were doing. */
  async vsctl(what: string, args: readonly string[]): Promise<string> {
    const r = await this.vsctlRaw(args);
    if (r.code !== 0) throw toolError(what, 'ovs-vsctl', r);
    return r.stdout;
  }

  async ofctl(what: string, args: readonly string[], input?: string): Promise<string> {
    const r = await this.run('ovs-ofctl', args, input);
    if (r.code !== 0) throw toolError(what, 'ovs-ofctl', r);
    return r.stdout;
  }

  /** Does ovsdb answer, and (managed) is ovs-vswitchd alive? Changes nothing. */
  async running(): Promise<boolean> {
    if (this.settings.managed) {
      if (!existsSync(join(this.settings.dir, 'db.sock'))) return false;
      if (!pidAlive(join(this.settings.dir, 'vswitchd.pid'))) return false;
    }
    return (await this.run('ovs-vsctl', [`--db=${this.settings.db}`, '--timeout=5', 'show'])).code === 0;
  }

  /** Make sure ovsdb and ovs-vswitchd run: a managed instance is started here the first time. */
  async ensureRunning(what: string): Promise<void> {
    if (await this.running()) return;
    if (!this.settings.managed) {
      throw new DriverError(`${what}: the Open vSwitch database ${this.settings.db} (VOLT_OVS_DB) does not answer`, {
        code: 'E_KERNEL',
        suggestions: ['start the site\'s Open vSwitch (systemctl start openvswitch-switch)', 'or unset VOLT_OVS_DB to let the driver run its own'],
      });
    }
    const missing = this.missingTools();
    if (missing.length > 0) {
      throw new DriverError(`${what}: Open vSwitch is not installed (missing ${missing.join(', ')})`, {
        code: 'E_TOOL_MISSING',
        suggestions: ['apt-get install openvswitch-switch (scripts/setup.sh does it)'],
      });
    }
    const d = this.settings.dir;
    const sock = join(d, 'db.sock');
    if (sock.length > SUN_PATH_MAX) {
      throw new UserInputError(`${what}: the ovsdb socket path ${sock} is longer than ${SUN_PATH_MAX} characters`, {
        code: 'E_PATH_TOO_LONG',
        suggestions: ['use a shorter VOLT_ROOT', 'or point VOLT_OVS_DB at an Open vSwitch the site runs'],
      });
    }
    mkdirSync(d, { recursive: true, mode: 0o750 });
    const step = async (cmd: string, args: string[], log?: string): Promise<void> => {
      const r = await this.run(cmd, args);
      if (r.code !== 0) {
        const tail = log ? tailOf(join(d, log)) : '';
        throw toolError(`${what}: start Open vSwitch (${cmd})`, cmd, { ...r, stderr: [r.stderr.trim(), tail].filter(Boolean).join('; ') });
      }
    };
    this.host.debug(`${what}: starting a private ovsdb-server and ovs-vswitchd in ${d}`);
    const db = join(d, 'conf.db');
    if (!existsSync(db)) await step('ovsdb-tool', ['create', db, this.settings.schema]);
    if (!pidAlive(join(d, 'ovsdb.pid'))) {
      await step(
        'ovsdb-server',
        [db, `--remote=punix:${sock}`, `--pidfile=${join(d, 'ovsdb.pid')}`, `--unixctl=${join(d, 'ovsdb.ctl')}`, `--log-file=${join(d, 'ovsdb.log')}`, '--detach'],
        'ovsdb.log',
      );
    }
    // userspace-tso-enable: the userspace datapath reads and writes its veth and TAP ports with
    // virtio-net headers, so packets a container or guest hands over with their checksum left to
    // offload (CHECKSUM_PARTIAL: TCP, UDP) keep that note and are completed on the way out. Without
    // it ping works but TCP between ports does not. Read by ovs-vswitchd at start, hence set here.
    await step('ovs-vsctl', [`--db=${this.settings.db}`, '--timeout=20', '--no-wait', 'init', '--', 'set', 'Open_vSwitch', '.', 'other_config:userspace-tso-enable=true']);
    if (!pidAlive(join(d, 'vswitchd.pid'))) {
      await step(
        'ovs-vswitchd',
        [`unix:${sock}`, `--pidfile=${join(d, 'vswitchd.pid')}`, `--unixctl=${join(d, 'vswitchd.ctl')}`, `--log-file=${join(d, 'vswitchd.log')}`, '--detach'],
        'vswitchd.log',
      );
    }
  }

  /** Managed instance with no bridge left: stop both daemons and remove their directory. */
  async stopIfIdle(): Promise<void> {
    if (!this.settings.managed || !existsSync(this.settings.dir)) return;
    if (await this.running()) {
      const r = await this.vsctlRaw(['list-br']);
      if (r.code !== 0 || r.stdout.trim() !== '') return;
    }
    const d = this.settings.dir;
    for (const [ctl, pid] of [['vswitchd.ctl', 'vswitchd.pid'], ['ovsdb.ctl', 'ovsdb.pid']] as const) {
      if (!pidAlive(join(d, pid))) continue;
      const r = await this.run('ovs-appctl', ['-t', join(d, ctl), 'exit']);
      if (r.code !== 0) killPid(join(d, pid));
    }
    rmSync(d, { recursive: true, force: true });
  }
}

export function toolError(what: string, cmd: string, r: RunResult): DriverError {
  const why = (r.stderr || r.stdout).trim().split('\n').slice(0, 3).join('; ') || `${cmd} exited with ${r.code}`;
  return new DriverError(`${what}: ${why}`, {
    code: r.code === 127 ? 'E_TOOL_MISSING' : 'E_KERNEL',
    suggestions: r.code === 127 ? ['apt-get install openvswitch-switch (scripts/setup.sh does it)'] : [],
  });
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function pidAlive(file: string): boolean {
  const pid = readPid(file);
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: unknown) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killPid(file: string): void {
  const pid = readPid(file);
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

function tailOf(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-2).join('; ');
  } catch {
    return '';
  }
}

/** Whether `name` is an executable file in $PATH (spawn's search). */
export function executableInPath(name: string, pathVar = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'): boolean {
  for (const dir of pathVar.split(':')) {
    const file = join(dir || '.', name);
    try {
      accessSync(file, fsConstants.X_OK);
      if (statSync(file).isFile()) return true;
    } catch {
      // not here
    }
  }
  return false;
}
