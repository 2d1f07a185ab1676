import type { Hook } from '@oclif/core';
// Brings the typed `volt:register-drivers` hook (core augments oclif's Hooks).
import type {} from '@volt/core/dist/di/registration';
import { NftablesFirewall } from './nftables-firewall';

/** Contributes the nftables drivers; core fires `volt:register-drivers` the first time a command needs a driver. */
const registerDrivers: Hook<'volt:register-drivers'> = async function ({ container, tokens, host }) {
  container.register(tokens.firewall, { useFactory: () => new NftablesFirewall(host) });
};

export default registerDrivers;
