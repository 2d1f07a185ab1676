import type { ConformanceCase, ConformanceResult } from './run';

/** One line per case: "✓ name" or "✗ name: reason" ("- name: reason" when skipped). */
export function formatCase(c: ConformanceCase): string {
  const mark = c.status === 'pass' ? '✓' : c.status === 'fail' ? '✗' : '-';
  return `${mark} ${c.name}${c.reason ? `: ${c.reason}` : ''}`;
}

/** The cases, then a summary line. */
export function formatConformance(r: ConformanceResult): string {
  const lines = r.cases.map(formatCase);
  lines.push(`${r.kind} ${r.driver}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${r.ok ? '' : ' — does not conform'}`);
  return lines.join('\n');
}
