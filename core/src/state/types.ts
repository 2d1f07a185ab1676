export const STATE_SCHEMA_VERSION = 1;

export interface NetworkRecord {
  name: string;
  /** Kernel interface name of the bridge. */
  bridge: string;
  /** "10.30.0.0/24" */
  subnet: string;
  /** "10.30.0.1" */
  gateway: string;
  /** IPv6 prefix, canonical lower-case compressed form ("fd00:30::/64"); absent: IPv4 only (docs/ipv6.md). */
  subnet6?: string;
  /** IPv6 gateway on the bridge ("fd00:30::1"); present exactly when subnet6 is. */
  gateway6?: string;
  /** How v6 leaves the network: NAT66 masquerade or routed; absent means nat when subnet6 is set. */
  ipv6Mode?: 'nat' | 'routed';
  mtu: number;
  nat: boolean;
  /** Stable, locally administered MAC of the bridge. */
  mac: string;
  isDefault: boolean;
  /** IPAM ranges ("10.30.0.2-10.30.0.99"); absent means the default split. */
  vmRange?: string;
  containerRange?: string;
  /** Free-form labels; `volt net compose` marks the networks of a project with com.docker.compose.project. */
  labels?: Record<string, string>;
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

/** One virtio-net NIC of a VM, as desired (from its config, then connect/disconnect). */
export interface VmNicRecord {
  /** NIC id from the config ("eth0", "mgmt"): QEMU's netdev id, and the attachment's ifname. */
  id: string;
  /** The network this NIC joins when the VM starts; undefined after `volt net disconnect`. */
  network?: string;
  /** Fixed once chosen (config, --mac, or generated at first connect), so the guest keeps its lease. */
  mac?: string;
  /** Requested address for the first connect (config `ip`). */
  ip?: string;
  /** Requested static IPv6 address (config `ip6`, `--ip6`); absent: the EUI-64 (SLAAC) address of the MAC. */
  ip6?: string;
  mtu?: number;
  /** Use vhost-net when it is available (default true). */
  vhost: boolean;
  queues: number;
  /** vm-nic driver asked for by the config (`mode`); undefined: the active one. */
  mode?: string;
}

/** Why vhost-net is on or off for one NIC ("off (/dev/vhost-net: ENOENT …)"). */
export interface VhostState {
  on: boolean;
  reason: string;
}

/** A NIC of a running VM: what exists on the host right now. */
export interface VmNicRuntime {
  id: string;
  /** TAP name on the host. */
  ifname: string;
  /** The vm-nic driver that made it (teardown goes through the same one). */
  driver: string;
  queues: number;
  mac: string;
  mtu: number;
  /** The bridge the TAP was plugged into at start (or by connect); undefined: not on a bridge. */
  bridge?: string;
  vhost: VhostState;
}

/** Everything about a running QEMU that stop, inspect and ps need. */
export interface VmRuntime {
  pid: number;
  startedAt: string;
  accel: 'kvm' | 'tcg';
  /** Why this accelerator ("KVM is not usable here: …"). */
  accelReason: string;
  qmpSocket: string;
  serialLog: string;
  qemuLog: string;
  nics: VmNicRuntime[];
}

export interface VmRecord {
  type: 'vm';
  name: string;
  uuid: string;
  /** The validated VM config (JSON), as given to `volt vm create`, with paths made absolute. */
  config: Record<string, unknown>;
  nics: VmNicRecord[];
  /** Set while QEMU runs (also in `runtime`; kept here for listings that only need liveness). */
  pid?: number;
  startedAt?: string;
  /** Present from `vm start` until `vm stop` (also when QEMU died on its own: stop cleans up). */
  runtime?: VmRuntime;
  createdAt: string;
}

export type WorkloadRecord = ContainerRecord | VmRecord;

/** A workload's link to a network. */
export interface AttachmentRecord {
  workload: string;
  network: string;
  ip: string;
  /** IPv6 address on a network with subnet6 ("fd00:30::a", canonical form); absent on IPv4-only networks. */
  ip6?: string;
  mac: string;
  /** veth (container) or tap (VM). */
  kind: 'veth' | 'tap';
  /** Interface name inside the workload (eth0, eth1…) or the VM NIC id. */
  ifname: string;
  /** The bridge port on the host: veth host end or TAP name. */
  hostIfname: string;
  /** Further names volt-dns serves for this workload on this network (Compose service names and aliases). */
  aliases?: string[];
  createdAt: string;
}

export interface IngressRouteRecord {
  name: string;
  /** Lower-case host name or "*.example.com". */
  hostname: string;
  /** "/" or a prefix without a trailing slash. */
  path: string;
  /**
   * One or more upstreams; requests are spread over the healthy ones. `target` is a
   * workload name (resolved to its current address whenever routes are applied) or an IP address.
   */
  backends: { target: string; port: number }[];
  tls: 'none' | 'auto' | 'manual' | 'passthrough';
  /** tls manual: absolute paths, read again on every reload. */
  cert?: string;
  key?: string;
  timeoutSeconds: number;
  stripPath: boolean;
  /** Which address of a workload backend (`--family`): absent = IPv4, or IPv6 for a workload that has no IPv4 address. */
  family?: 4 | 6;
  createdAt: string;
}

/** A user firewall rule as the user gave it (`volt net firewall add`); workloads stay names. */
export interface FirewallRuleRecord {
  name: string;
  /** "any", an IPv4 address or subnet, or a workload name. */
  source: string;
  /** "any", "host", an IPv4 address or subnet, or a workload name. */
  dest: string;
  /** "80", "8000-8080"; empty means every port. */
  ports: string[];
  proto: 'tcp' | 'udp' | 'icmp' | 'any';
  action: 'accept' | 'drop' | 'reject';
  /** Only traffic arriving from this network; workload names resolve to their address on it. */
  network?: string;
  /** Where the rule landed, decided when it was added (destination is the host → input). */
  chains: ('input' | 'forward')[];
  /** Evaluation position: ascending, first match wins; spaced by 1024 so rules can go in between. */
  order: number;
  createdAt: string;
}

/** A port forward (`volt net port add`). */
export interface PortForwardRecord {
  hostPort: number;
  /** Only connections to this host address; absent: any of the host's addresses. */
  hostIp?: string;
  proto: 'tcp' | 'udp';
  target: string;
  targetPort: number;
  createdAt: string;
}

/** A network policy (`volt net policy create`). */
export interface PolicyRecord {
  name: string;
  /** A workload name or "any" (any workload). */
  from: string;
  to: string;
  /** "5432", "8000-8010"; empty means every port. */
  ports: string[];
  proto: 'tcp' | 'udp' | 'icmp' | 'any';
  action: 'allow' | 'deny';
  createdAt: string;
}

/** An 802.1Q VLAN interface volt manages (`volt net vlan`), optionally the uplink of a network's bridge. */
export interface VlanRecord {
  /** Kernel interface name ("eth0.100"). */
  name: string;
  /** The host link it is stacked on. */
  parent: string;
  /** 802.1Q id, 1–4094. */
  id: number;
  /** The network whose bridge it is a port of; absent: on no bridge. */
  network?: string;
  createdAt: string;
}

export interface VoltState {
  schemaVersion: number;
  networks: Record<string, NetworkRecord>;
  workloads: Record<string, WorkloadRecord>;
  attachments: AttachmentRecord[];
  ingress: { routes: Record<string, IngressRouteRecord> };
  /** User firewall rules, in evaluation order. */
  firewall: { rules: FirewallRuleRecord[] };
  portForwards: PortForwardRecord[];
  policies: Record<string, PolicyRecord>;
  /** VLAN interfaces by name. */
  vlans: Record<string, VlanRecord>;
  /**
   * Operations that announced a kernel change and have not committed its result
   * (docs/state-and-recovery.md). Absent or empty when nothing is in flight.
   */
  pending?: PendingRecord[];
}

/** A kernel-changing operation journaled before it touches the kernel (core/src/state/journal.ts). */
export type PendingOp = 'connect' | 'connect-batch' | 'disconnect' | 'net-create' | 'net-delete' | 'vm-connect' | 'vm-disconnect' | 'vm-start' | 'vm-stop' | 'vm-delete' | FirewallPendingOp;
/** Port forwards, firewall rules and policies, VLANs (core/src/state/journal-firewall.ts). */
export type FirewallPendingOp = 'port-add' | 'port-delete' | 'firewall-apply' | 'vlan-create' | 'vlan-delete' | 'vlan-attach' | 'vlan-detach';

export interface PendingStep {
  /** Stable step name (`volt debug steps`). */
  name: string;
  done: boolean;
}

/** One container of a connect-batch record. */
export interface BatchConnect {
  attachment: AttachmentRecord;
  workload: WorkloadRecord;
  nsFile: string;
  defaultRoute: boolean;
}

export interface PendingRecord {
  /** Random id, unique among pending records. */
  id: string;
  op: PendingOp;
  /** What it acts on, for reports: "api on backend", "network backend". */
  object: string;
  /** The volt process that wrote it; a record under the lock always belongs to a dead process. */
  pid: number;
  startedAt: string;
  steps: PendingStep[];
  /** connect, vm-connect: the attachment being made (its address and MAC are reserved while pending). */
  attachment?: AttachmentRecord;
  /** connect: the workload record to add when it is not in state yet. */
  workload?: WorkloadRecord;
  /** connect: namespace file of the container. */
  nsFile?: string;
  /** connect: the new link gets the default route (the workload's first network). */
  defaultRoute?: boolean;
  /**
   * connect-batch: every container of one `volt net connect NET W1 … WN`, each with what a
   * single connect records (attachment with its reserved address, MAC and link names, workload,
   * namespace file, default route); the network is `networks[0]`.
   */
  connects?: BatchConnect[];
  /** disconnect, vm-disconnect: the attachments being removed. */
  attachments?: AttachmentRecord[];
  /** vm-connect: a NIC the connect adds to a stopped VM that had no free one (added with the result). */
  vmNic?: VmNicRecord;
  /** vm-start, vm-stop: the VM's name and UUID (vm-start: its new attachments are in `attachments`, reserved while pending). */
  vm?: string;
  vmUuid?: string;
  /** vm-start: the VM's NICs as they are once started (MACs chosen, networks joined). */
  vmNics?: VmNicRecord[];
  /**
   * vm-start: what the steps made, written as they go: the TAPs (with the driver that made each,
   * once it did), QEMU's pid once spawned, and the runtime the start commits.
   */
  vmStart?: { taps: { id: string; ifname: string; driver?: string }[]; pid?: number; runtime?: VmRuntime };
  /** vm-stop: the runtime whose NICs are being removed (QEMU is gone already); vm-delete: the runtime of a VM whose QEMU had exited. */
  vmRuntime?: VmRuntime;
  /** vm-delete: the VM's runtime directory (removed by the `files` step). */
  vmDir?: string;
  /** net-create: the networks being created (their subnets are taken while pending); net-delete: the one deleted. */
  networks?: NetworkRecord[];
  /** net-create: the firewall table is set up too; net-delete: it is removed too. */
  base?: boolean;
  /** port-add, port-delete, firewall-apply: the collections the operation changes, as they are after it (plans-firewall.ts). */
  firewall?: {
    rules?: FirewallRuleRecord[];
    portForwards?: PortForwardRecord[];
    policies?: Record<string, PolicyRecord>;
    /** Instead of `rules` / `policies` when few change (one rule added to 10,000): records replaced or added, names removed. */
    rulesDelta?: { upsert: FirewallRuleRecord[]; remove: string[] };
    policiesDelta?: { upsert: PolicyRecord[]; remove: string[] };
  };
  /** vlan-*: the VLAN before (absent for a create) and after (absent for a delete). */
  vlan?: { name: string; before?: VlanRecord; after?: VlanRecord };
}

export function emptyState(): VoltState {
  return { schemaVersion: STATE_SCHEMA_VERSION, networks: {}, workloads: {}, attachments: [], ingress: { routes: {} }, firewall: { rules: [] }, portForwards: [], policies: {}, vlans: {} };
}
