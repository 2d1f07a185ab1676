import { token } from '../di/token';
import type { Driver } from './driver';

export interface FirewallNetwork {
  name: string;
  bridge: string;
  /** "10.30.0.0/24" */
  subnet: string;
  /** "10.30.0.1" */
  gateway: string;
  nat: boolean;
}

export interface HostInputPolicy {
  /** Verdict for new inbound connections to the host that no rule accepts. */
  policy: 'drop' | 'accept';
  /** Always-open host ports, e.g. "tcp/22", so an operator is never locked out. */
  allow: string[];
}

/**
 * The firewall contract: symmetric pairs, each applied as one atomic
 * transaction, only ever touching volt's own table.
 */
export interface FirewallDriver extends Driver {
  /** Table, base chains and the default policy (idempotent). */
  setupBase(policy: HostInputPolicy): Promise<void>;
  /** Remove everything volt owns in the firewall; absent is success. */
  teardownBase(): Promise<void>;
  /** Isolation, host access and masquerade for one network (idempotent). */
  setupNetwork(net: FirewallNetwork): Promise<void>;
  /** Undo setupNetwork; a network that has no rules is success. */
  teardownNetwork(net: FirewallNetwork): Promise<void>;
  /** Differences between what should be there and what is, one sentence each. */
  check(policy: HostInputPolicy, nets: FirewallNetwork[]): Promise<string[]>;
}

export const FirewallDriver = token<FirewallDriver>('volt.driver.firewall');
