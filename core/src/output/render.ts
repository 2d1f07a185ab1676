export type OutputFormat = 'table' | 'json' | 'yaml';

export interface Column<T> {
  header: string;
  get(row: T): string | number | boolean | undefined;
}

/** Plain aligned columns, upper-case headers, two spaces apart (like `ip`/`kubectl`). */
export function table<T>(columns: Column<T>[], rows: T[]): string {
  const cells = rows.map((r) => columns.map((c) => cellText(c.get(r))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]): string =>
    vals
      .map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

function cellText(v: string | number | boolean | undefined): string {
  if (v === undefined || v === '') return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

/** Render data for `-o json|yaml`; the yaml module loads only when asked for. */
export function serialize(data: unknown, format: 'json' | 'yaml'): string {
  if (format === 'json') return JSON.stringify(data, null, 2);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const YAML = require('yaml') as typeof import('yaml');
  return YAML.stringify(data).trimEnd();
}

/** "key: value" lines for one object in table mode (inspect, show). */
export function keyValues(pairs: [string, string | number | boolean | undefined][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${(k + ':').padEnd(w + 2)}${cellText(v)}`).join('\n');
}
