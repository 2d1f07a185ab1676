/**
 * Drives one vm-nic driver in the network namespace this process is in,
 * one JSON request per stdin line, one JSON answer per stdout line. Kernel
 * tests start it inside a test namespace (or a networkd sandbox host) and keep
 * it alive across requests, because a TAP made by the direct driver lives only
 * while an fd to it is open — in this process, or in a child it hands them to
 * (`hold`, which plays QEMU's part with `sleep`).
 */
import { spawn } from 'node:child_process';
import * as readline from 'node:readline';
import type { HostContext } from '@volt/sdk';
import type { VmNicDriver, VmNicHandle, VmNicSpec } from '@volt/sdk';

export interface NicRunnerConfig {
  /** A built-in vm-nic driver's name ("direct-tap", "networkd"). */
  driver: string;
  /** networkd: NetworkdTapOptions (timeouts). */
  options?: Record<string, unknown>;
}

export type NicRunnerRequest =
  | { op: 'available' }
  | { op: 'setup' | 'teardown' | 'detach'; spec: VmNicSpec }
  | { op: 'attach'; spec: VmNicSpec & { bridge: string } }
  /** Close this process's fds of a NIC (without teardown). */
  | { op: 'close'; ifname: string }
  /** Start `sleep` holding the NIC's fds as fd 3…, then close ours; answers its pid. */
  | { op: 'hold'; ifname: string };

export interface NicRunnerAnswer {
  ok: boolean;
  result?: unknown;
  error?: { message: string; code?: string };
  warnings: string[];
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as NicRunnerConfig;
  const { voltPaths } = await import('@volt/sdk');
  let warnings: string[] = [];
  const host: HostContext = { paths: voltPaths(process.env), warn: (m) => warnings.push(m), debug: () => undefined };
  // Through the plugins' register hooks, by name (driver-hooks.ts), as volt finds them.
  const { builtinDriver } = await import('./driver-hooks');
  const driver = await builtinDriver<VmNicDriver>('vm-nic', config.driver, host, config.options);
  const { closeFds } = await import('@volt/native');
  const handles = new Map<string, VmNicHandle>();

  const handle = async (req: NicRunnerRequest): Promise<unknown> => {
    switch (req.op) {
      case 'available':
        return driver.available();
      case 'setup': {
        const h = await driver.setupNic(req.spec);
        handles.set(req.spec.ifname, h);
        return { ifname: h.ifname, queues: h.tapFds.length, warnings: h.warnings };
      }
      case 'teardown': {
        await driver.teardownNic(req.spec, handles.get(req.spec.ifname));
        handles.delete(req.spec.ifname);
        return undefined;
      }
      case 'attach':
        return driver.attachNic(req.spec);
      case 'detach':
        return driver.detachNic(req.spec);
      case 'close': {
        const h = handles.get(req.ifname);
        if (h) closeFds(h.tapFds);
        handles.delete(req.ifname);
        return undefined;
      }
      case 'hold': {
        const h = handles.get(req.ifname);
        if (!h) throw new Error(`no open NIC ${req.ifname}`);
        const child = spawn('sleep', ['300'], { stdio: ['ignore', 'ignore', 'ignore', ...h.tapFds], detached: true });
        child.unref();
        closeFds(h.tapFds);
        handles.delete(req.ifname);
        return { pid: child.pid };
      }
    }
  };

  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line.trim() === '') continue;
    warnings = [];
    let answer: NicRunnerAnswer;
    try {
      const result = await handle(JSON.parse(line) as NicRunnerRequest);
      answer = { ok: true, result, warnings };
    } catch (e: unknown) {
      const err = e instanceof Error ? e : new Error(String(e));
      const code = (err as Error & { code?: unknown }).code;
      answer = { ok: false, error: { message: err.message, code: typeof code === 'string' ? code : undefined }, warnings };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`runner: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
