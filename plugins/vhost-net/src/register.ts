import type { Hook } from '@oclif/core';
// Brings the typed `volt:register-drivers` hook (core augments oclif's Hooks).
import type {} from '@volt/sdk';
import { VmNicAccelerator } from '@volt/sdk';
import type * as Vhost from './vhost-net';

/** Contributes the vhost-net accelerator for VM NICs (core picks it per NIC when asked for and available). */
// Implementations load when a command resolves the driver, not when the hook runs: every
// command that needs any driver runs every plugin's hook (docs/decisions/0002-cli-startup.md, 0007).
/* eslint-disable @typescript-eslint/no-require-imports */
const registerDrivers: Hook<'volt:register-drivers'> = async function ({ container, host }) {
  container.register(VmNicAccelerator, { useFactory: () => new (require('./vhost-net') as typeof Vhost).VhostNet(host) });
};
/* eslint-enable @typescript-eslint/no-require-imports */

export default registerDrivers;
