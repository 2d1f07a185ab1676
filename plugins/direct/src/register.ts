import type { Hook, Interfaces } from '@oclif/core';
import type { RegisterDriversOptions } from '@volt/core/dist/di/registration';
import { DirectBridge } from './direct-bridge';

/**
 * The hook's type, spelled out here rather than taken from core's module
 * augmentation alone: `Hooks` is not a root export of @oclif/core 4, so an
 * augmentation of '@oclif/core' does not reach it.
 */
type VoltHooks = Interfaces.Hooks & {
  'volt:register-drivers': { options: RegisterDriversOptions; return: void };
};

/** Contributes the direct drivers; core fires `volt:register-drivers` from its init hook. */
const registerDrivers: Hook<'volt:register-drivers', VoltHooks> = async function ({ container, tokens, host }) {
  container.register(tokens.bridge, { useFactory: () => new DirectBridge(host) });
};

export default registerDrivers;
