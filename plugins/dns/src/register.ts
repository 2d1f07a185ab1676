import type { Hook } from '@oclif/core';
// Brings the typed `volt:register-drivers` hook (core augments oclif's Hooks).
import type {} from '@volt/sdk';
import { Dns2Resolver } from './dns2-resolver';

/** Contributes the dns driver; core fires `volt:register-drivers` the first time a command needs a driver. */
const registerDrivers: Hook<'volt:register-drivers'> = async function ({ container, tokens, host }) {
  container.register(tokens.dns, { useFactory: () => new Dns2Resolver(host) });
};

export default registerDrivers;
