import type { Hook } from '@oclif/core';
// Brings the typed `volt:register-drivers` hook (core augments oclif's Hooks).
import type {} from '@volt/sdk';

/**
 * Contributes the ingress driver; core fires `volt:register-drivers` the first
 * time a command needs a driver. The driver module (cluster, ACME, health
 * checks) loads only when the ingress driver itself is resolved, so other
 * commands do not pay for it.
 */
const registerDrivers: Hook<'volt:register-drivers'> = async function ({ container, tokens, host }) {
  container.register(tokens.ingress, {
    useFactory: () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { NodeIngressProxy } = require('./node-ingress') as typeof import('./node-ingress');
      return new NodeIngressProxy(host);
    },
  });
};

export default registerDrivers;
