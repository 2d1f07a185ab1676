import * as path from 'node:path';

/** The repository root, resolved from the compiled location build/test/harness. */
export const REPO_ROOT: string = path.resolve(__dirname, '..', '..', '..');

/** The volt CLI entry point; run it with process.execPath. */
export const VOLT_BIN: string = path.join(REPO_ROOT, 'core', 'bin', 'run.js');

/** Shell script that keeps a networkd sandbox alive (shipped as source, not compiled). */
export const NETWORKD_SANDBOX_SCRIPT: string = path.join(REPO_ROOT, 'test', 'harness', 'networkd-sandbox.sh');
