import { spawn } from 'node:child_process';
import { DriverError } from '../errors';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Run a program and collect its output; never throws for a non-zero exit. */
export function runCommand(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = TRACE ? process.hrtime.bigint() : 0n;
  const done = new Promise<RunResult>((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      resolve({ code: e.code === 'ENOENT' ? 127 : 126, stdout, stderr: stderr + `${cmd}: ${e.message}` });
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr: signal ? `${stderr}${cmd}: killed by ${signal}` : stderr });
    });
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
  if (TRACE) {
    void done.then((r) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      process.stderr.write(`trace: ${ms.toFixed(1)} ms  exit ${r.code}  ${cmd} ${args.join(' ')}\n`);
    });
  }
  return done;
}

/** VOLT_TRACE=1 prints every program volt runs, with its duration, to stderr. */
const TRACE = process.env.VOLT_TRACE === '1';

/**
 * Run a program that must succeed. `what` describes the operation for the
 * error message: `create bridge "volt-x": RTNETLINK answers: File exists`.
 */
export async function runChecked(
  what: string,
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<string> {
  const r = await runCommand(cmd, args, opts);
  if (r.code !== 0) {
    const why = firstLines(r.stderr || r.stdout) || `${cmd} exited with ${r.code}`;
    throw new DriverError(`${what}: ${why}`, {
      code: r.code === 127 ? 'E_TOOL_MISSING' : 'E_KERNEL',
      suggestions: r.code === 127 ? [`install ${cmd} (run scripts/setup.sh)`] : [],
    });
  }
  return r.stdout;
}

function firstLines(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .slice(0, 3)
    .join('; ');
}
