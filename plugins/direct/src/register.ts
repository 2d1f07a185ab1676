import type { Hook } from '@oclif/core';
// Brings the typed `volt:register-drivers` hook (core augments oclif's Hooks).
import type {} from '@volt/sdk';
import { GuestDhcp } from '@volt/sdk';
import type * as Bridge from './direct-bridge';
import type * as Tap from './direct-tap';
import type * as Dhcp from './dnsmasq-dhcp';

/** Contributes the direct drivers; core fires `volt:register-drivers` the first time a command needs a driver. */
// Implementations load when a command resolves the driver, not when the hook runs: every
// command that needs any driver runs every plugin's hook (docs/decisions/0002-cli-startup.md, 0007).
/* eslint-disable @typescript-eslint/no-require-imports */
const registerDrivers: Hook<'volt:register-drivers'> = async function ({ container, tokens, host }) {
  container.register(tokens.bridge, { useFactory: () => new (require('./direct-bridge') as typeof Bridge).DirectBridge(host) });
  container.register(tokens['vm-nic'], { useFactory: () => new (require('./direct-tap') as typeof Tap).DirectTap(host) });
  container.register(GuestDhcp, { useFactory: () => new (require('./dnsmasq-dhcp') as typeof Dhcp).DnsmasqDhcp(host) });
};
/* eslint-enable @typescript-eslint/no-require-imports */

export default registerDrivers;
