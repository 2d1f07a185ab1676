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
  /** IPAM ranges ("10.30.0.2-10.30.0.99"); absent means the default split. */
  vmRange?: string;
  containerRange?: string;
  createdAt: string;
}

/** Where a container's network namespace is. */
export type ContainerSource =
  /** A named namespace (`ip netns`): /run/netns/NAME. */
  | { kind: 'netns'; name: string }
  /** Registered with --netns PATH (a bind-mounted namespace file). */
  | { kind: 'path'; path: string }
  /** Registered with --pid PID: /proc/PID/ns/net. */
  | { kind: 'pid'; pid: number }
  /** A running systemd-nspawn machine: its leader's namespace. */
  | { kind: 'nspawn'; machine: string; leader: number };

export interface ContainerRecord {
  type: 'container';
  name: string;
  source: ContainerSource;
  /** Registered explicitly (`volt container register`) rather than found by name. */
  registered: boolean;
  createdAt: string;
}

export interface VmNicRecord {
  id: string;
  network: string;
  mac?: string;
  mtu?: number;
  vhost: boolean;
  queues: number;
}

export interface VmRecord {
  type: 'vm';
  name: string;
  uuid: string;
  /** The validated VM config (JSON), as given to `volt vm create`. */
  config: Record<string, unknown>;
  nics: VmNicRecord[];
  /** Set while QEMU runs. */
  pid?: number;
  startedAt?: string;
  createdAt: string;
}

export type WorkloadRecord = ContainerRecord | VmRecord;

/** A workload's link to a network. */
export interface AttachmentRecord {
  workload: string;
  network: string;
  ip: string;
  mac: string;
  /** veth (container) or tap (VM). */
  kind: 'veth' | 'tap';
  /** Interface name inside the workload (eth0, eth1…) or the VM NIC id. */
  ifname: string;
  /** The bridge port on the host: veth host end or TAP name. */
  hostIfname: string;
  createdAt: string;
}

export interface IngressRouteRecord {
  name: string;
  hostname: string;
  path: string;
  /** Workload name or IP address, and port. */
  backend: { target: string; port: number };
  tls: 'none' | 'auto' | 'manual' | 'passthrough';
  cert?: string;
  key?: string;
  timeoutSeconds: number;
  stripPath: boolean;
  createdAt: string;
}

export interface VoltState {
  schemaVersion: number;
  networks: Record<string, NetworkRecord>;
  workloads: Record<string, WorkloadRecord>;
  attachments: AttachmentRecord[];
  ingress: { routes: Record<string, IngressRouteRecord> };
}

export function emptyState(): VoltState {
  return { schemaVersion: STATE_SCHEMA_VERSION, networks: {}, workloads: {}, attachments: [], ingress: { routes: {} } };
}
