import type { Hook } from '@oclif/core';
// Brings the typed `volt:register-drivers` hook (core augments oclif's Hooks).
import type {} from '@volt/core/dist/di/registration';
import { NetworkdBridge } from './networkd-bridge';

/** Contributes the networkd drivers; core fires `volt:register-drivers` the first time a command needs a driver. */
const registerDrivers: Hook<'volt:register-drivers'> = async function ({ container, tokens, host }) {
  container.register(tokens.bridge, { useFactory: () => new NetworkdBridge(host) });
};

export default registerDrivers;
