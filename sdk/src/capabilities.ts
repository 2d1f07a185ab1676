import type { Driver, DriverKind } from './drivers/driver';

/*
 * Optional parts of a contract, by name. A driver has a capability when it implements every
 * method of it; volt asks the registry (`registry.has(kind, capability)`) instead of probing
 * for methods, and `volt driver list` shows what each driver has. A driver that implements
 * some methods of a capability but not all is reported (`capabilityGaps`), never half-used.
 */
export const CAPABILITIES = {
  bridge: {
    /** 802.1Q VLAN uplinks (BridgeVlans). */
    vlans: ['vlanSupport', 'setupVlan', 'teardownVlan', 'inspectVlans'],
    /** Container NICs as bridge ports (BridgeContainerPorts); without it core uses the Linux veth helpers. */
    'container-ports': ['setupContainerPort', 'configureContainerPort', 'teardownContainerPort'],
    /** Container ports in batches (BridgeContainerPortBatch); without it volt calls the container-ports methods one port at a time. */
    'container-port-batch': ['setupContainerPorts', 'configureContainerPorts', 'teardownContainerPorts'],
    /** VM TAPs plugged in by the bridge driver (BridgeTapPorts), for bridges that are not Linux bridges. */
    'tap-ports': ['attachTap', 'detachTap', 'tapBridge'],
    /** Workload policies enforced in the driver's own switch (BridgeSwitchedPolicies), for bridges netfilter does not see. */
    'switched-policies': ['applySwitchedPolicies', 'checkSwitchedPolicies'],
  },
  firewall: {
    /** User rules, port forwards and policies in one rule set. */
    rules: ['applyRules', 'removeRules'],
    /** Warnings about other firewalls' chains that would drop volt's traffic. */
    'foreign-conflicts': ['foreignConflicts'],
    /** Whether same-bridge traffic passes the IPv4 forward hook (`net policy test`). */
    'bridge-filtering': ['bridgeFiltering'],
  },
  dns: {},
  ingress: {
    /** New settings applied to a running proxy without a restart. */
    reconfigure: ['reconfigure'],
  },
  'vm-nic': {},
  'vm-nic-accel': {},
  'guest-dhcp': {},
} as const satisfies Record<DriverKind, Record<string, readonly string[]>>;

export type Capability<K extends DriverKind> = keyof (typeof CAPABILITIES)[K] & string;

function methods(kind: DriverKind): [string, readonly string[]][] {
  return Object.entries(CAPABILITIES[kind] as Record<string, readonly string[]>);
}

function has(driver: Driver, method: string): boolean {
  return typeof (driver as unknown as Record<string, unknown>)[method] === 'function';
}

/** The capabilities `driver` implements completely, in catalog order. */
export function capabilitiesOf(kind: DriverKind, driver: Driver): string[] {
  return methods(kind)
    .filter(([, ms]) => ms.every((m) => has(driver, m)))
    .map(([name]) => name);
}

/** Capabilities implemented only in part: "vlans (missing inspectVlans)". */
export function capabilityGaps(kind: DriverKind, driver: Driver): string[] {
  return methods(kind)
    .filter(([, ms]) => ms.some((m) => has(driver, m)) && !ms.every((m) => has(driver, m)))
    .map(([name, ms]) => `${name} (missing ${ms.filter((m) => !has(driver, m)).join(', ')})`);
}
