import { ConfigError } from '../errors';
import { runCommand, type RunResult } from './exec';

/**
 * How volt reaches the kernel: `library` (the default) calls libnftables
 * in-process where it loads, `process` runs the programs (`nft`) as before.
 * Set with VOLT_KERNEL_ACCESS; `library` falls back to the process path when
 * the library is absent, and for calls it does not map.
 */
export type KernelAccess = 'library' | 'process';

export const KERNEL_ACCESS_ENV = 'VOLT_KERNEL_ACCESS';

export function kernelAccess(env: NodeJS.ProcessEnv = process.env): KernelAccess {
  const v = env[KERNEL_ACCESS_ENV];
  if (v === undefined || v === '' || v === 'library') return 'library';
  if (v === 'process') return 'process';
  throw new ConfigError(`${KERNEL_ACCESS_ENV}=${v} is not a kernel access mode`, {
    code: 'E_KERNEL_ACCESS_INVALID',
    suggestions: [`set ${KERNEL_ACCESS_ENV} to "library" (libnftables in-process, the default) or "process" (run nft)`],
  });
}

/** Runs nft commands: the same arguments and results as the `nft` program, by whichever path. */
export interface NftRunner {
  /** "libnftables" or the nft program's path. */
  readonly via: string;
  run(args: readonly string[], input?: string): Promise<RunResult>;
}

/**
 * The shape of an in-process libnftables (volt's is `openLibnftables` in
 * @volt/native): one call with nft's output flags, dry run, and a command line,
 * a script, or a file.
 */
export interface NftLibrary {
  run(call: { flags: number; dryRun: boolean; command?: string; script?: string; file?: string }): { rc: number; stdout: string; stderr: string };
}

/** nft's output flags (NFT_CTX_OUTPUT_*, libnftables(3)) for the options volt's drivers pass. */
const FLAG_BITS: Record<string, number> = {
  '-a': 1 << 3, // --handle
  '-j': 1 << 4, // --json
  '-t': 1 << 11, // --terse
};

const TRACE = process.env.VOLT_TRACE === '1';

/** nft's argument list as one library call, or undefined when it uses an option not mapped here. */
export function nftLibraryCall(args: readonly string[], input?: string): Parameters<NftLibrary['run']>[0] | undefined {
  let flags = 0;
  let dryRun = false;
  let file: string | undefined;
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i] as string;
    if (!a.startsWith('-')) break;
    const bit = FLAG_BITS[a];
    if (bit !== undefined) flags |= bit;
    else if (a === '-c') dryRun = true;
    else if (a === '-f' && i + 1 < args.length) file = args[++i];
    else return undefined;
  }
  const command = args.slice(i).join(' ');
  if (file === undefined) return command.length > 0 ? { flags, dryRun, command } : undefined;
  if (command.length > 0) return undefined;
  return file === '-' ? { flags, dryRun, script: input ?? '' } : { flags, dryRun, file };
}

class LibraryNftRunner implements NftRunner {
  readonly via = 'libnftables';
  constructor(
    private readonly lib: NftLibrary,
    private readonly fallback: NftRunner,
  ) {}

  run(args: readonly string[], input?: string): Promise<RunResult> {
    const call = nftLibraryCall(args, input);
    if (call === undefined) return this.fallback.run(args, input);
    const started = TRACE ? process.hrtime.bigint() : 0n;
    const r = this.lib.run(call);
    if (TRACE) {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      process.stderr.write(`trace: ${ms.toFixed(1)} ms  rc ${r.rc}  libnftables ${args.join(' ')}\n`);
    }
    // nft exits 1 for any failure.
    return Promise.resolve({ code: r.rc === 0 ? 0 : 1, stdout: r.stdout, stderr: r.stderr });
  }
}

class ProcessNftRunner implements NftRunner {
  constructor(
    readonly via: string,
    private readonly timeoutMs: number,
  ) {}

  run(args: readonly string[], input?: string): Promise<RunResult> {
    return runCommand(this.via, args, { input, timeoutMs: this.timeoutMs });
  }
}

export interface NftRunnerOptions {
  /** Path of the nft program: the process path, and the fallback for calls the library path does not map. */
  nftPath: string;
  /** Opens the in-process library; returns the reason when it cannot. Absent: the process path. */
  library?: () => NftLibrary | { failed: string };
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Told why the library path is not used, when it was asked for. */
  debug?: (message: string) => void;
}

/** The runner VOLT_KERNEL_ACCESS asks for: libnftables in-process (when it opens) or the nft program. */
export function nftRunner(opts: NftRunnerOptions): NftRunner {
  const proc = new ProcessNftRunner(opts.nftPath, opts.timeoutMs ?? 60_000);
  if (kernelAccess(opts.env) === 'process' || opts.library === undefined) return proc;
  const lib = opts.library();
  if ('failed' in lib) {
    opts.debug?.(`libnftables not used (${lib.failed}); running ${opts.nftPath}`);
    return proc;
  }
  return new LibraryNftRunner(lib, proc);
}
