import type { Hook } from '@oclif/core';
// Brings the typed `volt:register-drivers` hook (core augments oclif's Hooks).
import type {} from '@volt/sdk';

/** Contributes the nftables drivers; core fires `volt:register-drivers` the first time a command needs a driver. */
const registerDrivers: Hook<'volt:register-drivers'> = async function ({ container, tokens, host }) {
  container.register(tokens.firewall, {
    // The implementation loads when a command resolves the driver, not when the hook runs:
    // every command that needs any driver runs this hook (see docs/decisions/0002-cli-startup.md).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    useFactory: () => new (require('./nftables-firewall') as typeof import('./nftables-firewall')).NftablesFirewall(host),
  });
};

export default registerDrivers;
