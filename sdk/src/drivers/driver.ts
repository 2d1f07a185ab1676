/** What every driver shares: a name, a probe, and how eagerly it is picked. */
export interface Availability {
  ok: boolean;
  /** Why, in a few words: "networkd answers on D-Bus", "nft not installed". */
  reason: string;
}

/** The contracts the registry selects one driver for (config `drivers.<kind>`, detection, fallback). */
export type DriverKind = 'bridge' | 'firewall' | 'dns' | 'ingress' | 'vm-nic' | 'vm-nic-accel' | 'guest-dhcp';

export const DRIVER_KINDS: readonly DriverKind[] = ['bridge', 'firewall', 'dns', 'ingress', 'vm-nic', 'vm-nic-accel', 'guest-dhcp'];

export interface Driver {
  readonly name: string;
  /** Detection order: higher is tried first. The fallback is tried last. */
  readonly preference: number;
  /** The implementation used when nothing else is configured or detected. */
  readonly fallback: boolean;
  /** One line for `volt driver list`. */
  readonly description: string;
  /** Probe the host; must not change anything. */
  available(): Promise<Availability>;
}
