import type { RegisterDriversHook } from '@volt/sdk';
import type * as Bridge from './ovs-bridge';

/**
 * volt fires `volt:register-drivers` the first time a command needs a driver, in every plugin.
 * The driver's code loads only when a command resolves it (the factory), not here.
 */
const registerDrivers: RegisterDriversHook = async function ({ container, tokens, host }) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  container.register(tokens.bridge, { useFactory: () => new (require('./ovs-bridge') as typeof Bridge).OvsBridge(host) });
};

export default registerDrivers;
