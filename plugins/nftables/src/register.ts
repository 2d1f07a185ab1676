import type { Hook, Interfaces } from '@oclif/core';
import type { RegisterDriversOptions } from '@volt/core/dist/di/registration';
import { NftablesFirewall } from './nftables-firewall';

// Spelled out rather than relying on core's `declare module '@oclif/core'`
// augmentation: '@oclif/core' has no top-level `Hooks`, so that augmentation
// declares a new, unrelated interface and the hook's options come out `unknown`.
// Pick turns the interface into a mapped type, which fits oclif's
// `Record<string, unknown>` constraint on hook options.
interface VoltHooks extends Interfaces.Hooks {
  'volt:register-drivers': { options: Pick<RegisterDriversOptions, keyof RegisterDriversOptions>; return: void };
}

/** Registers the nftables firewall driver; core picks among registered drivers. */
const hook: Hook<'volt:register-drivers', VoltHooks> = async function ({ container, tokens, host }) {
  container.register(tokens.firewall, { useFactory: () => new NftablesFirewall(host) });
};

export default hook;
