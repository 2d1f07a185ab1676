import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCommand, type RunResult } from '../kernel/exec';
import { UserInputError, DriverError } from '../errors';

/*
 * The network namespace the conformance kit works in. By default the kit makes a fresh one
 * (`ip netns add`), runs the driver inside it and deletes it at the end; the machine's root
 * namespace is never touched. `current` uses the namespace the caller runs in (for drivers that
 * need a service running there, e.g. systemd-networkd in a test sandbox) and is refused when
 * that is the root namespace (the one PID 1 is in).
 */

export type SandboxMode = 'fresh' | 'current';

export interface SandboxOptions {
  /** 'fresh' (default): a namespace of the kit's own; 'current': the caller's (never the root namespace). */
  mode?: SandboxMode;
  /** VOLT_ROOT the driver sees; default: a fresh temporary directory ('fresh'), the caller's VOLT_ROOT ('current'). */
  voltRoot?: string;
}

let counter = 0;

/**
 * Why the namespace this process runs in may be the root one, or undefined when it is not:
 * it is a named namespace (`ip netns add`, its inode under /run/netns), or PID 1 is readable
 * and in another one.
 */
function notATestNamespace(): string | undefined {
  let own: fs.Stats;
  try {
    own = fs.statSync('/proc/self/ns/net');
  } catch {
    return 'its namespace file /proc/self/ns/net cannot be read';
  }
  try {
    for (const name of fs.readdirSync('/run/netns')) {
      try {
        const st = fs.statSync(path.join('/run/netns', name));
        if (st.dev === own.dev && st.ino === own.ino) return undefined;
      } catch {
        /* a stale entry */
      }
    }
  } catch {
    /* no named namespaces */
  }
  try {
    const init = fs.statSync('/proc/1/ns/net');
    return init.ino === own.ino ? 'this is the root namespace (the one PID 1 is in)' : undefined;
  } catch {
    return 'it is not a named namespace (ip netns) and PID 1\'s cannot be read to tell it from the root one';
  }
}

/** Where nft lives: node_modules/.bin/nft (@vercel/nft) may come first on PATH under npx. */
export function nftBinary(): string | undefined {
  for (const p of ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft', '/bin/nft', '/usr/local/sbin/nft']) if (fs.existsSync(p)) return p;
  return undefined;
}

/** Sandboxes of kit runs whose process is gone (killed before it could clean up). Only `volt-kit-<dead pid>-<n>`. */
async function removeStale(): Promise<void> {
  let names: string[];
  try {
    names = fs.readdirSync('/run/netns');
  } catch {
    return;
  }
  for (const name of names) {
    const pid = /^volt-kit-(\d+)-\d+$/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid || fs.existsSync(`/proc/${pid}`)) continue;
    await runCommand('ip', ['netns', 'del', name]);
  }
}

export class Sandbox {
  private constructor(
    readonly mode: SandboxMode,
    /** The namespace's name under /run/netns ('fresh'), undefined for 'current'. */
    readonly netns: string | undefined,
    readonly voltRoot: string,
    private readonly ownRoot: boolean,
  ) {}

  static async create(opts: SandboxOptions = {}): Promise<Sandbox> {
    const mode = opts.mode ?? 'fresh';
    if (mode !== 'fresh' && mode !== 'current') {
      throw new UserInputError(`create the test sandbox: mode ${JSON.stringify(mode)} is not fresh or current`, { code: 'E_KIT_SANDBOX' });
    }
    const ownRoot = opts.voltRoot === undefined && (mode === 'fresh' || process.env.VOLT_ROOT === undefined);
    const voltRoot = opts.voltRoot ?? (ownRoot ? fs.mkdtempSync(path.join(os.tmpdir(), 'volt-kit-')) : process.env.VOLT_ROOT!);
    if (mode === 'current') {
      const why = notATestNamespace();
      if (why !== undefined) {
        if (ownRoot) fs.rmSync(voltRoot, { recursive: true, force: true });
        throw new UserInputError(`run the conformance kit in the current network namespace: ${why}; the kit never changes the root namespace`, {
          code: 'E_KIT_SANDBOX',
          suggestions: ['run it without --sandbox current (the kit makes a namespace of its own)', 'or inside a test namespace: ip netns exec NAME volt driver test … --sandbox current'],
        });
      }
      return new Sandbox(mode, undefined, voltRoot, ownRoot);
    }
    await removeStale();
    counter += 1;
    const name = `volt-kit-${process.pid}-${counter}`;
    const r = await runCommand('ip', ['netns', 'add', name]);
    if (r.code !== 0) {
      if (ownRoot) fs.rmSync(voltRoot, { recursive: true, force: true });
      throw new DriverError(`create the test sandbox: ip netns add ${name}: ${r.stderr.trim() || `exit ${r.code}`}`, {
        code: 'E_KIT_SANDBOX',
        suggestions: ['the kit needs root (CAP_SYS_ADMIN) and iproute2 to make a network namespace'],
      });
    }
    const sb = new Sandbox(mode, name, voltRoot, ownRoot);
    await sb.run('ip', ['link', 'set', 'lo', 'up']);
    return sb;
  }

  /** argv prefix that runs a program inside the sandbox. */
  prefix(): string[] {
    return this.netns === undefined ? [] : ['ip', 'netns', 'exec', this.netns];
  }

  /** Run a program inside the sandbox (never throws for a non-zero exit). */
  run(cmd: string, args: readonly string[], input?: string): Promise<RunResult> {
    const [bin, ...rest] = [...this.prefix(), cmd, ...args];
    return runCommand(bin!, rest, { input, timeoutMs: 60_000 });
  }

  /** The same, and it must succeed. */
  async must(cmd: string, args: readonly string[], input?: string): Promise<string> {
    const r = await this.run(cmd, args, input);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`);
    return r.stdout;
  }

  /** Delete the namespace (killing what still runs in it) and the temporary root. Idempotent. */
  async destroy(): Promise<void> {
    if (this.netns !== undefined) {
      const pids = await runCommand('ip', ['netns', 'pids', this.netns]);
      for (const pid of pids.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await runCommand('ip', ['netns', 'del', this.netns]);
    }
    if (this.ownRoot) fs.rmSync(this.voltRoot, { recursive: true, force: true });
  }
}
