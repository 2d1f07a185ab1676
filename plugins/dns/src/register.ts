import type { Hook } from '@oclif/core';
// Brings the typed `volt:register-drivers` hook (core augments oclif's Hooks).
import type {} from '@volt/sdk';
import type * as Resolver from './dns2-resolver';

/** Contributes the dns driver; core fires `volt:register-drivers` the first time a command needs a driver. */
// Implementations load when a command resolves the driver, not when the hook runs: every
// command that needs any driver runs every plugin's hook (docs/decisions/0002-cli-startup.md, 0007).
/* eslint-disable @typescript-eslint/no-require-imports */
const registerDrivers: Hook<'volt:register-drivers'> = async function ({ container, tokens, host }) {
  container.register(tokens.dns, { useFactory: () => new (require('./dns2-resolver') as typeof Resolver).Dns2Resolver(host) });
};
/* eslint-enable @typescript-eslint/no-require-imports */

export default registerDrivers;
