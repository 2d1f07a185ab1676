import { token } from '../di/token';
import type { Driver } from './driver';

/* DHCP for VM guests; core picks the one that goes with the active bridge driver (see vm-nic.ts). */

/** One static lease: this MAC always gets this address. */
export interface DhcpLease {
  mac: string;
  ip: string;
  /** The IPv6 address the guest gets (DHCPv6 static lease; on a /64 the guest's SLAAC address too). */
  ip6?: string;
  /** The workload's name, offered as the guest's host name. */
  hostname: string;
}

export interface GuestDhcpSpec {
  network: string;
  bridge: string;
  /** "10.30.0.0/24" */
  subnet: string;
  /** Server address, router and DNS server handed out: the network's gateway. */
  gateway: string;
  mtu: number;
  /**
   * The network's IPv6 prefix ("fd00:30::/64") and gateway: send router advertisements for it
   * on the bridge (autonomous on a /64, so guests form their EUI-64 address) and serve the
   * leases' ip6 over DHCPv6. Absent: IPv4 only.
   */
  subnet6?: string;
  gateway6?: string;
  /** Exactly these leases are served; nothing else gets an address. */
  leases: DhcpLease[];
}

/** A DHCP server on a network's bridge that hands VM guests the addresses IPAM reserved for their MACs. */
export interface GuestDhcp extends Driver {
  /**
   * The bridge driver this service belongs with ("networkd": its DHCPServer lives in the
   * bridge's .network); undefined: it works on any Linux bridge.
   */
  readonly forBridge?: string;
  /** Serve exactly spec.leases on spec.bridge (idempotent: unchanged leases change nothing). */
  setupDhcp(spec: GuestDhcpSpec): Promise<void>;
  /** Stop serving the network; absent is success. */
  teardownDhcp(spec: Pick<GuestDhcpSpec, 'network' | 'bridge'>): Promise<void>;
}

export const GuestDhcp = token<GuestDhcp>('volt.driver.guest-dhcp');
