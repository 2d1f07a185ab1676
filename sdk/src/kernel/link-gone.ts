import type { RunResult } from './exec';

/**
 * iproute2's ways of saying the link (or address) named is not there: "Cannot find device",
 * "Device "x" does not exist.", "RTNETLINK answers: No such device", and for an address that
 * is gone "Cannot assign requested address". One place, so tear-downs agree on
 * "already gone is success".
 */
const GONE = /Cannot find device|does not exist|No such device|Cannot assign requested address/i;

/** True when an `ip` command's stderr says the link (or the address on it) is already gone. */
export function linkGone(stderr: string): boolean {
  return GONE.test(stderr);
}

/** The command succeeded, or failed only because what it would remove is already gone. */
export function okOrGone(r: RunResult): boolean {
  return r.code === 0 || linkGone(r.stderr);
}
