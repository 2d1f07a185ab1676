import type { DriverTokens } from './registration';
import type { DriverKind } from '../drivers/driver';
import type { Token } from './token';
import { BridgeDriver } from '../drivers/bridge';
import { FirewallDriver } from '../drivers/firewall';
import { DnsDriver } from '../drivers/dns';
import { IngressDriver } from '../drivers/ingress';
import { VmNicDriver } from '../drivers/vm-nic';
import { VmNicAccelerator } from '../drivers/vm-nic-accel';
import { GuestDhcp } from '../drivers/guest-dhcp';

/** The token of each selected contract, as the `volt:register-drivers` hook hands them out. */
export const driverTokens: DriverTokens = {
  bridge: BridgeDriver,
  firewall: FirewallDriver,
  dns: DnsDriver,
  ingress: IngressDriver,
  'vm-nic': VmNicDriver,
  'vm-nic-accel': VmNicAccelerator,
  'guest-dhcp': GuestDhcp,
};

/** The contract behind each selected kind (`registry.get('bridge')` is a BridgeDriver). */
export type DriverOf = { [K in DriverKind]: DriverTokens[K] extends Token<infer T> ? T : never };

/** The kind a token selects, or undefined for a token that is not a driver contract. */
export function kindOfToken(tok: symbol): DriverKind | undefined {
  for (const [kind, t] of Object.entries(driverTokens) as [DriverKind, symbol][]) if (t === tok) return kind;
  return undefined;
}
