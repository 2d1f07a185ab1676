/**
 * Runs raw nft calls through the SDK's nftRunner in the namespace this process
 * is in (252-nftables-access starts it with `ip netns exec`), on the path
 * VOLT_KERNEL_ACCESS names.
 *
 *   node nft-access-runner.js '[[["-j","list","tables"]], [["-f","-"], "add table inet x\n"]]'
 *
 * Prints {via, results: [{code, stdout, stderr}]}.
 */
import { openLibnftables } from '@volt/native';
import { nftRunner, type RunResult } from '@volt/sdk/kernel';
import { findNft } from '@volt/plugin-nftables/dist/nft-binary';

async function main(): Promise<void> {
  const calls = JSON.parse(process.argv[2] ?? '[]') as [string[], string?][];
  const runner = nftRunner({ nftPath: findNft() ?? 'nft', library: openLibnftables, debug: (m) => process.stderr.write(`debug: ${m}\n`) });
  const results: RunResult[] = [];
  for (const [args, input] of calls) results.push(await runner.run(args, input));
  process.stdout.write(JSON.stringify({ via: runner.via, results }));
}

void main();
