import * as fs from 'node:fs';
import * as koffi from 'koffi';
import { libc } from './libc';

/** What one libnftables call asks for: nft's output flags, dry run, and a command or a script. */
export interface LibnftablesCall {
  /** NFT_CTX_OUTPUT_* bits (libnftables(3)). */
  flags: number;
  dryRun: boolean;
  /** One command line ("list chains inet"), or a whole script (what `nft -f` reads). */
  command?: string;
  script?: string;
  /** A file nft reads itself (`nft -f FILE`). */
  file?: string;
}

export interface LibnftablesResult {
  /** nft_run_cmd_*'s return value: 0 on success. */
  rc: number;
  stdout: string;
  stderr: string;
}

/** libnftables, loaded in-process: one context, one call at a time (calls are synchronous). */
export interface Libnftables {
  run(call: LibnftablesCall): LibnftablesResult;
}

const MFD_CLOEXEC = 1;
let opened: Libnftables | { failed: string } | undefined;

/** Open libnftables.so.1 once per process; the reason when it cannot be. */
export function openLibnftables(): Libnftables | { failed: string } {
  if (opened) return opened;
  try {
    const lib = koffi.load('libnftables.so.1');
    const ctxNew = lib.func('void *nft_ctx_new(uint32_t flags)');
    const bufferOutput = lib.func('int nft_ctx_buffer_output(void *ctx)');
    const bufferError = lib.func('int nft_ctx_buffer_error(void *ctx)');
    const setFlags = lib.func('void nft_ctx_output_set_flags(void *ctx, unsigned int flags)');
    const setDryRun = lib.func('void nft_ctx_set_dry_run(void *ctx, bool dry)');
    const runBuffer = lib.func('int nft_run_cmd_from_buffer(void *ctx, const char *buf)');
    const runFile = lib.func('int nft_run_cmd_from_filename(void *ctx, const char *filename)');
    const output = lib.func('const char *nft_ctx_get_output_buffer(void *ctx)');
    const errors = lib.func('const char *nft_ctx_get_error_buffer(void *ctx)');
    const memfd = libc().func('int memfd_create(const char *name, unsigned int flags)');
    const ctx: unknown = ctxNew(0);
    if (ctx === null) throw new Error('nft_ctx_new returned NULL');
    if (bufferOutput(ctx) !== 0 || bufferError(ctx) !== 0) throw new Error('libnftables cannot buffer its output');
    opened = {
      run(call: LibnftablesCall): LibnftablesResult {
        setFlags(ctx, call.flags);
        setDryRun(ctx, call.dryRun);
        let rc: number;
        if (call.script !== undefined) {
          // A script goes in as a file, not a buffer: libnftables 1.0.6 points errors in a
          // multi-line buffer at its first line; a file's errors name line and column as nft -f does.
          const fd = memfd('volt-nft', MFD_CLOEXEC) as number;
          if (fd < 0) throw new Error(`memfd_create failed (errno ${koffi.errno()})`);
          try {
            fs.writeSync(fd, call.script);
            rc = runFile(ctx, `/proc/self/fd/${fd}`) as number;
          } finally {
            fs.closeSync(fd);
          }
        } else if (call.file !== undefined) {
          rc = runFile(ctx, call.file) as number;
        } else {
          rc = runBuffer(ctx, call.command ?? '') as number;
        }
        // Reading a buffer also empties it for the next call.
        const stdout = (output(ctx) as string | null) ?? '';
        const stderr = ((errors(ctx) as string | null) ?? '').replace(/\/proc\/self\/fd\/\d+:/g, '/dev/stdin:');
        return { rc, stdout, stderr };
      },
    };
  } catch (e: unknown) {
    opened = { failed: e instanceof Error ? e.message : String(e) };
  }
  return opened;
}
