import type { Hook } from '@oclif/core';
// Brings the typed `volt:register-drivers` hook (core augments oclif's Hooks).
import type {} from '@volt/sdk';
import { GuestDhcp } from '@volt/sdk';
import { NetworkdBridge } from './networkd-bridge';
import { NetworkdDhcp } from './networkd-dhcp';
import { NetworkdTap, type NetworkdTapOptions } from './networkd-tap';

/** Contributes the networkd drivers; core fires `volt:register-drivers` the first time a command needs a driver. */
const registerDrivers: Hook<'volt:register-drivers'> = async function ({ container, tokens, host }) {
  container.register(tokens.bridge, { useFactory: () => new NetworkdBridge(host) });
  container.register(tokens['vm-nic'], { useFactory: () => new NetworkdTap(host, tapOptions(process.env)) });
  container.register(GuestDhcp, { useFactory: () => new NetworkdDhcp(host) });
};

/** VOLT_NETWORKD_TAP_TIMEOUT_MS: how long one attempt waits for networkd's TAP (default 3000; three attempts). */
export function tapOptions(env: NodeJS.ProcessEnv): NetworkdTapOptions {
  const ms = Number(env.VOLT_NETWORKD_TAP_TIMEOUT_MS);
  return Number.isInteger(ms) && ms > 0 ? { timeoutMs: ms } : {};
}

export default registerDrivers;
