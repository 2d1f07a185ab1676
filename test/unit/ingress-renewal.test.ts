import test from 'ava';
import { certificateNeed, renewalTime, retryDelay } from '@volt/plugin-ingress/dist/renewal';

const DAY = 86_400_000;
const DIR = 'https://acme.example/directory';

test('renewal: 30 days ahead of a 90-day certificate, a third of the lifetime for short ones', (t) => {
  const nb = new Date('2026-01-01T00:00:00Z');
  const na = new Date(nb.getTime() + 90 * DAY);
  t.is(renewalTime(nb, na, 30 * DAY).toISOString(), '2026-03-02T00:00:00.000Z');
  const shortAfter = new Date(nb.getTime() + 60_000);
  t.is(renewalTime(nb, shortAfter, 30 * DAY).getTime(), nb.getTime() + 40_000, 'a 60 s certificate renews after 40 s');
  t.is(renewalTime(nb, na, 1000).getTime(), na.getTime() - 1000);
});

test('what a host name needs: issue, renew, keep', (t) => {
  const now = new Date('2026-02-01T00:00:00Z');
  const stored = { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2026-04-01T00:00:00Z'), directoryUrl: DIR };
  t.is(certificateNeed(undefined, DIR, 30 * DAY, now), 'issue');
  t.is(certificateNeed(stored, DIR, 30 * DAY, now), 'keep');
  t.is(certificateNeed(stored, DIR, 30 * DAY, new Date('2026-03-15T00:00:00Z')), 'renew');
  t.is(certificateNeed(stored, DIR, 30 * DAY, new Date('2026-04-02T00:00:00Z')), 'issue', 'expired: a new order, not a renewal of something unusable');
  t.is(certificateNeed(stored, 'https://other-ca.example/dir', 30 * DAY, now), 'issue', 'a certificate from another CA is replaced');
});

test('retries back off: 30 s doubling up to an hour', (t) => {
  t.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelay(n)), [30_000, 60_000, 120_000, 240_000, 480_000]);
  t.is(retryDelay(20), 3_600_000);
  t.is(retryDelay(1000), 3_600_000);
  t.is(retryDelay(0), 30_000);
  // The schedule is configurable (ingress.acme.retry_min / retry_max): tests run it in seconds.
  t.deepEqual([1, 2, 3, 4, 5].map((n) => retryDelay(n, 1000, 4000)), [1000, 2000, 4000, 4000, 4000]);
  t.is(retryDelay(1, 500, 500), 500);
});
