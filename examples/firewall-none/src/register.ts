import type { RegisterDriversHook } from '@volt/sdk';
import { NoneFirewall } from './none-firewall';

const registerDrivers: RegisterDriversHook = async function ({ container, tokens, host }) {
  container.register(tokens.firewall, { useFactory: () => new NoneFirewall(host) });
};

export default registerDrivers;
