import type { RegisterDriversOptions } from './registration';

/**
 * The `volt:register-drivers` hook as a plain function type, so that a plugin needs no
 * @oclif/core types (and works under any TypeScript module resolution):
 *
 *   const hook: RegisterDriversHook = async ({ container, tokens, host }) => { ... };
 *   export default hook;
 *
 * oclif also passes its `config` and `context`; a driver plugin has no use for them.
 */
export type RegisterDriversHook = (options: RegisterDriversOptions) => Promise<void>;
