/**
 * Runs one bridge-driver call in the network namespace this process is in and
 * prints the outcome as one JSON line. Kernel tests start it inside a test
 * namespace (`ip netns exec NS node bridge-driver-runner.js '<request>'`) or
 * inside a sandbox host, so the driver never touches the root namespace.
 *
 * Every program the driver starts is recorded (with its stdin), so tests can
 * assert that a converged set-up issues no changes.
 */
import childProcess = require('node:child_process');
import type { ChildProcess } from 'node:child_process';
import type { HostContext } from '@volt/sdk';
import type { BridgeDriver, BridgeSpec } from '@volt/sdk';

export interface RunnerRequest {
  /** A built-in bridge driver's name ("direct", "networkd"). */
  driver: string;
  op: 'available' | 'setup' | 'teardown' | 'inspect';
  spec: BridgeSpec;
  /** Passed to the driver's constructor after the host context (networkd: { timeoutMs }). */
  options?: Record<string, unknown>;
}

export interface RecordedCommand {
  cmd: string;
  args: string[];
  input?: string;
}

export interface RunnerOutcome {
  ok: boolean;
  result?: unknown;
  error?: { name: string; message: string; code?: string; suggestions?: string[] };
  commands: RecordedCommand[];
  warnings: string[];
}

const commands: RecordedCommand[] = [];
const realSpawn = childProcess.spawn;
// Core's exec.ts calls `child_process.spawn` through the module object at call time.
(childProcess as { spawn: unknown }).spawn = function recordingSpawn(
  cmd: string,
  args: readonly string[],
  opts: childProcess.SpawnOptions,
): ChildProcess {
  const entry: RecordedCommand = { cmd, args: [...args] };
  commands.push(entry);
  const child = realSpawn(cmd, args, opts);
  const stdin = child.stdin;
  if (stdin) {
    const end = stdin.end.bind(stdin) as (chunk?: unknown) => unknown;
    (stdin as { end: unknown }).end = (chunk?: unknown): unknown => {
      if (typeof chunk === 'string' && chunk.length > 0) entry.input = chunk;
      return end(chunk);
    };
  }
  return child;
};

async function main(): Promise<RunnerOutcome> {
  const request = JSON.parse(process.argv[2] ?? '{}') as RunnerRequest;
  const warnings: string[] = [];
  // Loaded after the spawn patch; paths follow VOLT_ROOT like the real CLI.
  const { voltPaths } = await import('@volt/sdk');
  const host: HostContext = {
    paths: voltPaths(process.env),
    warn: (m) => warnings.push(m),
    debug: () => undefined,
  };
  // Through the plugins' register hooks, by name (driver-hooks.ts), as volt finds them.
  const { builtinDriver } = await import('./driver-hooks');
  const driver = await builtinDriver<BridgeDriver>('bridge', request.driver, host, request.options);
  try {
    let result: unknown;
    switch (request.op) {
      case 'available':
        result = await driver.available();
        break;
      case 'setup':
        await driver.setupBridge(request.spec);
        break;
      case 'teardown':
        await driver.teardownBridge(request.spec);
        break;
      case 'inspect':
        result = await driver.inspectBridge(request.spec.ifname);
        break;
    }
    return { ok: true, result, commands, warnings };
  } catch (e: unknown) {
    const err = e instanceof Error ? e : new Error(String(e));
    const extra = err as Error & { code?: unknown; suggestions?: unknown };
    return {
      ok: false,
      error: {
        name: err.name,
        message: err.message,
        code: typeof extra.code === 'string' ? extra.code : undefined,
        suggestions: Array.isArray(extra.suggestions) ? (extra.suggestions as string[]) : undefined,
      },
      commands,
      warnings,
    };
  }
}

if (require.main === module) {
  main().then(
    (outcome) => process.stdout.write(JSON.stringify(outcome) + '\n'),
    (e: unknown) => {
      process.stderr.write(`runner: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
