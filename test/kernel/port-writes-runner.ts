/**
 * Runs the SDK's container-port steps (setupVethPort, configureVethPeer, teardownVethPort)
 * in the namespace this process is in, on the path VOLT_KERNEL_ACCESS names, and prints what
 * each step gave (ok, or the error's message) and how many in-process writes ran
 * (254-netlink-writes starts it with `ip netns exec`, VOLT_TRACE=1 counting the programs).
 *
 *   node port-writes-runner.js '{"steps":[["setup",SPEC],["configure",SPEC],["teardown",SPEC]]}'
 */
import { netlinkApply, netlinkDump, netlinkFdb } from '@volt/native';
import type { ContainerPortSpec } from '@volt/sdk';
import { configureVethPeer, setupVethPort, teardownVethPort, useNetlinkLibrary } from '@volt/sdk/kernel';

async function main(): Promise<void> {
  const q = JSON.parse(process.argv[2] ?? '{}') as { steps: [string, ContainerPortSpec][] };
  let writes = 0;
  useNetlinkLibrary(() => ({
    dump: (nsPath) => netlinkDump(nsPath),
    fdb: () => netlinkFdb(),
    apply: (nsPath, requests) => {
      writes += requests.length;
      netlinkApply(nsPath, requests);
    },
  }));
  const results: string[] = [];
  for (const [step, spec] of q.steps) {
    const run = step === 'setup' ? setupVethPort : step === 'configure' ? configureVethPeer : teardownVethPort;
    try {
      await run(spec);
      results.push('ok');
    } catch (e: unknown) {
      results.push(`${(e as { code?: string }).code ?? '?'} ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  process.stdout.write(JSON.stringify({ results, writes }));
}

void main();
