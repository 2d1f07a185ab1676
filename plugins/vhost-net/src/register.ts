import type { Hook } from '@oclif/core';
// Brings the typed `volt:register-drivers` hook (core augments oclif's Hooks).
import type {} from '@volt/sdk';
import { VmNicAccelerator } from '@volt/sdk';
import { VhostNet } from './vhost-net';

/** Contributes the vhost-net accelerator for VM NICs (core picks it per NIC when asked for and available). */
const registerDrivers: Hook<'volt:register-drivers'> = async function ({ container, host }) {
  container.register(VmNicAccelerator, { useFactory: () => new VhostNet(host) });
};

export default registerDrivers;
