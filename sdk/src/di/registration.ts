import type { DependencyContainer } from 'tsyringe';
import type { VoltPaths } from '../paths';
import type { Token } from './token';
import type { BridgeDriver } from '../drivers/bridge';
import type { FirewallDriver } from '../drivers/firewall';
import type { DnsDriver } from '../drivers/dns';
import type { IngressDriver } from '../drivers/ingress';
import type { VmNicDriver } from '../drivers/vm-nic';
import type { VmNicAccelerator } from '../drivers/vm-nic-accel';
import type { GuestDhcp } from '../drivers/guest-dhcp';

/** What a driver may use from its host; drivers do not go looking for collaborators. */
export interface HostContext {
  paths: VoltPaths;
  warn(message: string): void;
  debug(message: string): void;
}

export interface DriverTokens {
  bridge: Token<BridgeDriver>;
  firewall: Token<FirewallDriver>;
  dns: Token<DnsDriver>;
  ingress: Token<IngressDriver>;
  'vm-nic': Token<VmNicDriver>;
  'vm-nic-accel': Token<VmNicAccelerator>;
  'guest-dhcp': Token<GuestDhcp>;
}

/**
 * Options of the `volt:register-drivers` hook. A plugin registers each of its
 * drivers with a factory: `container.register(tokens.bridge, { useFactory: () => new X(host) })`.
 * Several registrations per token are expected; core picks one (config, detection, fallback).
 */
export type RegisterDriversOptions = {
  container: DependencyContainer;
  tokens: DriverTokens;
  host: HostContext;
};

// Hooks is not re-exported from the package root, so augment where it is declared.
declare module '@oclif/core/lib/interfaces/hooks' {
  interface Hooks {
    'volt:register-drivers': {
      options: RegisterDriversOptions;
      return: void;
    };
  }
}
