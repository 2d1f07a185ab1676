import type { RegisterDriversHook } from '@volt/sdk';
import { BrokenBridge } from './broken-bridge';

const registerDrivers: RegisterDriversHook = async function ({ container, tokens, host }) {
  container.register(tokens.bridge, { useFactory: () => new BrokenBridge(host) });
};

export default registerDrivers;
