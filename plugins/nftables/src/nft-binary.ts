import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';

// Where distributions install nft; searched after PATH.
const SYSTEM_DIRS = ['/usr/sbin', '/sbin', '/usr/local/sbin', '/usr/bin', '/bin'];

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch (e: unknown) {
    return false;
  }
}

/**
 * The nftables `nft` program, or undefined when it is not installed.
 *
 * PATH directories inside node_modules are skipped: npm scripts and npx put
 * node_modules/.bin first on PATH, and @vercel/nft (a dependency of the
 * toolchain) installs a `nft` there that is not nftables.
 */
export function findNft(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromPath = (env.PATH ?? '').split(path.delimiter).filter((d) => d.length > 0 && !d.split(path.sep).includes('node_modules'));
  for (const dir of [...fromPath, ...SYSTEM_DIRS]) {
    const file = path.join(dir, 'nft');
    if (path.isAbsolute(file) && executable(file)) return file;
  }
  return undefined;
}
