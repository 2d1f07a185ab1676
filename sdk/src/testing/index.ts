import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HostContext } from '../di/registration';
import { voltPaths } from '../paths';

/*
 * The test kit's entry point (`@volt/sdk/testing`). The conformance suites (`volt driver test`)
 * come later; for now it gives a driver's own tests the host context volt would hand it.
 */

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
