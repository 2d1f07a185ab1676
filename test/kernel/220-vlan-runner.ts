/**
 * Runs one VLAN call of a bridge driver in the network namespace this process is in
 * and prints the outcome as one JSON line (`ip netns exec NS node 220-vlan-runner.js '<request>'`),
 * so the driver never touches the root namespace.
 */
import type { HostContext } from '@volt/sdk';
import type { BridgeDriver, VlanSpec } from '@volt/sdk';

export interface VlanRunnerRequest {
  driver: 'direct' | 'networkd';
  op: 'support' | 'setup' | 'teardown' | 'inspect';
  spec: VlanSpec;
}

export interface VlanRunnerOutcome {
  ok: boolean;
  result?: unknown;
  error?: { message: string; code?: string; exitCode?: number; suggestions?: string[] };
  warnings: string[];
}

async function main(): Promise<VlanRunnerOutcome> {
  const request = JSON.parse(process.argv[2] ?? '{}') as VlanRunnerRequest;
  const warnings: string[] = [];
  const { voltPaths } = await import('@volt/sdk');
  const host: HostContext = { paths: voltPaths(process.env), warn: (m) => warnings.push(m), debug: () => undefined };
  const driver: BridgeDriver =
    request.driver === 'direct'
      ? new (await import('@volt/plugin-direct/dist/index')).DirectBridge(host)
      : new (await import('@volt/plugin-networkd/dist/index')).NetworkdBridge(host, { timeoutMs: 5000 });
  try {
    let result: unknown;
    if (request.op === 'support') result = await driver.vlanSupport!();
    if (request.op === 'setup') await driver.setupVlan!(request.spec);
    if (request.op === 'teardown') await driver.teardownVlan!(request.spec);
    if (request.op === 'inspect') result = await driver.inspectVlans!([request.spec.ifname]);
    return { ok: true, result, warnings };
  } catch (e: unknown) {
    const err = e as Error & { code?: unknown; exitCode?: unknown; suggestions?: unknown };
    return {
      ok: false,
      error: {
        message: err.message,
        code: typeof err.code === 'string' ? err.code : undefined,
        exitCode: typeof err.exitCode === 'number' ? err.exitCode : undefined,
        suggestions: Array.isArray(err.suggestions) ? (err.suggestions as string[]) : undefined,
      },
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
