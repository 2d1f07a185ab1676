import { writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/**
 * VOLT_DNS_TRACE=1: one stderr line per start-up phase, "volt-dns: trace MS PHASE", MS being
 * milliseconds since the main process started (its performance.timeOrigin), also in the reading
 * threads. bench/dns-startup.sh PHASES=1 reads them (docs/decisions/0012-dns-startup.md).
 * Off (the default), a call costs one boolean test.
 */
export const TRACING = process.env.VOLT_DNS_TRACE === '1';

/** The main process's time origin (epoch ms); a reading thread is given it in its workerData. */
let origin = performance.timeOrigin;
let said = false;

export function traceOrigin(mainOrigin: number): void {
  origin = mainOrigin;
  said = true;
}

export function trace(phase: string): void {
  if (!TRACING) return;
  const now = performance.timeOrigin + performance.now() - origin;
  let line = `volt-dns: trace ${now.toFixed(1)} ${phase}\n`;
  if (!said) {
    said = true;
    line = `volt-dns: trace 0.0 origin ${origin.toFixed(1)}\n${line}`;
  }
  try {
    // Synchronous, so lines from the threads and the main thread keep their order in time.
    writeSync(2, line);
  } catch {
    /* stderr closed */
  }
}
