import type { Hook } from '@oclif/core';
// Brings the typed `volt:register-drivers` hook (core augments oclif's Hooks).
import type {} from '@volt/sdk';
import { GuestDhcp } from '@volt/sdk';
import type * as Bridge from './networkd-bridge';
import type * as Dhcp from './networkd-dhcp';
import type * as Tap from './networkd-tap';
import type { NetworkdTapOptions } from './networkd-tap';

/** Contributes the networkd drivers; core fires `volt:register-drivers` the first time a command needs a driver. */
// Implementations load when a command resolves the driver, not when the hook runs: every
// command that needs any driver runs every plugin's hook (docs/decisions/0002-cli-startup.md, 0007).
/* eslint-disable @typescript-eslint/no-require-imports */
const registerDrivers: Hook<'volt:register-drivers'> = async function ({ container, tokens, host }) {
  container.register(tokens.bridge, { useFactory: () => new (require('./networkd-bridge') as typeof Bridge).NetworkdBridge(host) });
  container.register(tokens['vm-nic'], { useFactory: () => new (require('./networkd-tap') as typeof Tap).NetworkdTap(host, tapOptions(process.env)) });
  container.register(GuestDhcp, { useFactory: () => new (require('./networkd-dhcp') as typeof Dhcp).NetworkdDhcp(host) });
};
/* eslint-enable @typescript-eslint/no-require-imports */

/** VOLT_NETWORKD_TAP_TIMEOUT_MS: how long one attempt waits for networkd's TAP (default 3000; three attempts). */
export function tapOptions(env: NodeJS.ProcessEnv): NetworkdTapOptions {
  const ms = Number(env.VOLT_NETWORKD_TAP_TIMEOUT_MS);
  return Number.isInteger(ms) && ms > 0 ? { timeoutMs: ms } : {};
}

export default registerDrivers;
