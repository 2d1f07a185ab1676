import { serialize, table, type Column, type OutputFormat } from '../output/render';
import type { NetworkView } from '../services/network/network-service';

/** `volt net list`'s columns; shared by the oclif command and the fast path (fast-path.ts). */
export const networkColumns: Column<NetworkView>[] = [
  { header: 'NAME', get: (n) => n.name },
  { header: 'BRIDGE', get: (n) => n.bridge },
  { header: 'SUBNET', get: (n) => n.subnet },
  { header: 'GATEWAY', get: (n) => n.gateway },
  { header: 'NAT', get: (n) => n.nat },
  { header: 'MTU', get: (n) => n.mtu },
  { header: 'CONNECTED', get: (n) => n.connected },
  { header: 'STATUS', get: (n) => n.status },
];

/** The columns for these rows: SUBNET6 and GATEWAY6 join once some network is dual-stack (IPv4-only hosts see no change). */
export function networkColumnsFor(rows: readonly NetworkView[]): Column<NetworkView>[] {
  if (!rows.some((n) => n.subnet6 !== undefined)) return networkColumns;
  const at = networkColumns.findIndex((c) => c.header === 'GATEWAY') + 1;
  return [
    ...networkColumns.slice(0, at),
    { header: 'SUBNET6', get: (n) => n.subnet6 ?? '-' },
    { header: 'GATEWAY6', get: (n) => n.gateway6 ?? '-' },
    ...networkColumns.slice(at),
  ];
}

/** What VoltCommand.printList prints for a listing, as text (with its final newline). */
export function listingText<T>(format: OutputFormat, columns: Column<T>[], rows: T[], data: unknown = rows): string {
  const text = format === 'table' ? (rows.length === 0 ? '(none)' : table(columns, rows)) : serialize(data, format);
  return text.endsWith('\n') ? text : `${text}\n`;
}
