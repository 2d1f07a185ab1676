export const STATE_SCHEMA_VERSION = 1;

export interface NetworkRecord {
  name: string;
  /** Kernel interface name of the bridge. */
  bridge: string;
  /** "10.30.0.0/24" */
  subnet: string;
  /** "10.30.0.1" */
  gateway: string;
  mtu: number;
  nat: boolean;
  /** Stable, locally administered MAC of the bridge. */
  mac: string;
  isDefault: boolean;
  createdAt: string;
}

/** A workload's link to a network (filled in by connect; reserved here). */
export interface AttachmentRecord {
  workload: string;
  network: string;
  ip: string;
  mac: string;
}

export interface VoltState {
  schemaVersion: number;
  networks: Record<string, NetworkRecord>;
  attachments: AttachmentRecord[];
}

export function emptyState(): VoltState {
  return { schemaVersion: STATE_SCHEMA_VERSION, networks: {}, attachments: [] };
}
