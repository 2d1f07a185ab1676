import type { Hook } from '@oclif/core';
import type {} from '@volt/sdk';
import { NoneFirewall } from './none-firewall';

const registerDrivers: Hook<'volt:register-drivers'> = async function ({ container, tokens, host }) {
  container.register(tokens.firewall, { useFactory: () => new NoneFirewall(host) });
};

export default registerDrivers;
