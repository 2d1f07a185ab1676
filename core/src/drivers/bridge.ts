import { token } from '../di/token';
import type { Driver } from './driver';

export interface BridgeSpec {
  /** Network name in volt's state ("backend"). */
  network: string;
  /** Kernel interface name (≤ 15 characters), e.g. "volt-backend". */
  ifname: string;
  /** Gateway address with prefix, e.g. "10.30.0.1/24". */
  address: string;
  mtu: number;
  /** Stable, locally administered MAC so the bridge address does not follow its ports. */
  mac: string;
}

export interface BridgeObservation {
  ifname: string;
  exists: boolean;
  kind?: string;
  up: boolean;
  mtu?: number;
  mac?: string;
  /** CIDR strings ("10.30.0.1/24"), IPv4 and IPv6 global. */
  addresses: string[];
  /** Interfaces enslaved to the bridge. */
  ports: string[];
}

/** Creates and removes the Linux bridge behind a managed network. */
export interface BridgeDriver extends Driver {
  /** Create or converge the bridge (idempotent). */
  setupBridge(spec: BridgeSpec): Promise<void>;
  /** Remove the bridge; a bridge that is already gone is success. */
  teardownBridge(spec: BridgeSpec): Promise<void>;
  /** What the kernel says about the bridge right now. */
  inspectBridge(ifname: string): Promise<BridgeObservation>;
  /** The same for several bridges at once, in one read of the kernel (listings). */
  inspectBridges(ifnames: readonly string[]): Promise<BridgeObservation[]>;
}

export const BridgeDriver = token<BridgeDriver>('volt.driver.bridge');
