import type { Hook } from '@oclif/core';
// Brings the typed `volt:register-drivers` hook (core augments oclif's Hooks).
import type {} from '@volt/sdk';
import { GuestDhcp } from '@volt/sdk';
import { DirectBridge } from './direct-bridge';
import { DirectTap } from './direct-tap';
import { DnsmasqDhcp } from './dnsmasq-dhcp';

/** Contributes the direct drivers; core fires `volt:register-drivers` the first time a command needs a driver. */
const registerDrivers: Hook<'volt:register-drivers'> = async function ({ container, tokens, host }) {
  container.register(tokens.bridge, { useFactory: () => new DirectBridge(host) });
  container.register(tokens['vm-nic'], { useFactory: () => new DirectTap(host) });
  container.register(GuestDhcp, { useFactory: () => new DnsmasqDhcp(host) });
};

export default registerDrivers;
