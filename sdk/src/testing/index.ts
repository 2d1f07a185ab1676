import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HostContext } from '../di/registration';
import { voltPaths } from '../paths';

/*
 * The test kit's entry point (`@volt/sdk/testing`): the host context volt would hand a driver
 * (createTestHost), and the conformance kit (runConformance), which runs a contract's behaviour
 * suite against a driver in a sandbox network namespace of its own (`volt driver test`).
 */

export { runConformance, CONFORMANCE_KINDS, type ConformanceKind, type ConformanceOptions, type ConformanceResult, type ConformanceCase } from './run';
export { Sandbox, type SandboxOptions, type SandboxMode } from './sandbox';
export { takeSnapshot, diffSnapshots, type KernelSnapshot } from './snapshot';
export { formatConformance, formatCase } from './format';

export interface TestHost extends HostContext {
  /** Warnings and debug lines the driver printed, in order. */
  readonly warnings: string[];
  readonly debugLines: string[];
  /** Remove the temporary root. */
  cleanup(): void;
}

/** A HostContext whose paths live under a fresh temporary root (as VOLT_ROOT would put them). */
export function createTestHost(prefix = 'volt-sdk-test-'): TestHost {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const warnings: string[] = [];
  const debugLines: string[] = [];
  return {
    paths: voltPaths({ VOLT_ROOT: root }),
    warn: (m: string) => void warnings.push(m),
    debug: (m: string) => void debugLines.push(m),
    warnings,
    debugLines,
    cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
  };
}

export { loadDrivers, type KitKind } from './driver-host';
