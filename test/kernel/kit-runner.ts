/**
 * Runs the conformance kit (@volt/sdk/testing) against a built-in driver and prints the result
 * as JSON: `node kit-runner.js KIND NAME [fresh|current]`. Kernel tests start it inside a
 * networkd sandbox host with `current`, where networkd runs.
 */
import { runConformance, type ConformanceKind } from '@volt/sdk/testing';
import { builtinHooks } from './driver-hooks';

async function main(): Promise<void> {
  const [kind, name, mode] = process.argv.slice(2);
  const result = await runConformance({ kind: kind as ConformanceKind, driver: { name: name!, hook: builtinHooks() }, sandbox: { mode: mode === 'current' ? 'current' : 'fresh' } });
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`kit-runner: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
