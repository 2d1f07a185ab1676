import * as fs from 'node:fs';
import { errno, errnoName, libc } from './libc';

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EWOULDBLOCK = 11;

type FlockFn = (fd: number, op: number) => number;
let flockFn: FlockFn | undefined;

function flock(fd: number, op: number): number {
  flockFn ??= libc().func('int flock(int fd, int operation)') as FlockFn;
  return flockFn(fd, op);
}

export interface HeldLock {
  release(): void;
}

/**
 * An exclusive flock(2) on `file`, polled without blocking the event loop.
 * The kernel drops the lock when the process dies, so a crashed volt never
 * leaves the state locked.
 */
export async function lockExclusive(file: string, timeoutMs: number, onWait?: () => void): Promise<HeldLock> {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  const deadline = Date.now() + timeoutMs;
  let waited = false;
  let delay = 2;
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) === 0) break;
    const code = errno();
    if (code !== EWOULDBLOCK) {
      fs.closeSync(fd);
      throw new Error(`flock ${file}: ${errnoName(code)}`);
    }
    if (Date.now() >= deadline) {
      fs.closeSync(fd);
      throw new LockTimeoutError(file, timeoutMs);
    }
    if (!waited) {
      waited = true;
      onWait?.();
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
  let held = true;
  return {
    release(): void {
      if (!held) return;
      held = false;
      flock(fd, LOCK_UN);
      fs.closeSync(fd);
    },
  };
}

export class LockTimeoutError extends Error {
  constructor(
    readonly file: string,
    readonly timeoutMs: number,
  ) {
    super(`lock ${file}: still held by another process after ${Math.round(timeoutMs / 1000)} s`);
  }
}
