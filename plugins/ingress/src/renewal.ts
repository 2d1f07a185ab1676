/** When ACME certificates are renewed and retried: pure arithmetic, unit-tested. */

/** Renew `renewBeforeMs` ahead of expiry, but never later than two thirds into the lifetime. */
export function renewalTime(notBefore: Date, notAfter: Date, renewBeforeMs: number): Date {
  const lifetime = Math.max(0, notAfter.getTime() - notBefore.getTime());
  const ahead = Math.min(renewBeforeMs, lifetime / 3);
  return new Date(notAfter.getTime() - ahead);
}

export const RETRY_BASE_MS = 30_000;
export const RETRY_MAX_MS = 60 * 60_000;

/** Backoff after the n-th consecutive failure (1-based): 30 s, 1 min, 2 min, … at most 1 h. */
export function retryDelay(failures: number, baseMs = RETRY_BASE_MS, maxMs = RETRY_MAX_MS): number {
  const n = Math.max(1, Math.floor(failures));
  return Math.min(maxMs, baseMs * 2 ** Math.min(n - 1, 30));
}

/** What to do about a host name now. */
export type CertificateNeed = 'issue' | 'renew' | 'keep';

export function certificateNeed(
  stored: { notBefore: Date; notAfter: Date; directoryUrl: string } | undefined,
  directoryUrl: string,
  renewBeforeMs: number,
  now: Date,
): CertificateNeed {
  if (stored === undefined) return 'issue';
  // A certificate from another CA (staging → production) is replaced, not kept until expiry.
  if (stored.directoryUrl !== directoryUrl) return 'issue';
  if (stored.notAfter.getTime() <= now.getTime()) return 'issue';
  return renewalTime(stored.notBefore, stored.notAfter, renewBeforeMs).getTime() <= now.getTime() ? 'renew' : 'keep';
}
