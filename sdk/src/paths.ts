import * as path from 'node:path';

/**
 * Every file volt touches, relative to one root. `<root>` is `/` in production
 * and `VOLT_ROOT` in tests and sandboxes; no other code hard-codes a path.
 */
export interface VoltPaths {
  root: string;
  configDir: string;
  configFile: string;
  stateDir: string;
  stateFile: string;
  lockFile: string;
  runDir: string;
  /** Persistent networkd units (bridges). */
  networkdEtcDir: string;
  /** Runtime networkd units (per-VM TAPs). */
  networkdRunDir: string;
  /** `/etc/netns/<name>/resolv.conf` lives here for named namespaces. */
  netnsEtcDir: string;
  /** sysctl.d drop-ins that systemd-sysctl applies at boot. */
  sysctlDir: string;
  /** The sysctls `volt tune` manages, as systemd-sysctl reads them. */
  sysctlConfFile: string;
  /** volt's record of those sysctls (values and what they were before volt set them). */
  tuningFile: string;
  /** Serialises `volt tune` changes and `net up`'s re-apply of them (independent of lockFile). */
  tuningLockFile: string;
}

export function voltPaths(env: NodeJS.ProcessEnv = process.env): VoltPaths {
  const root = path.resolve(env.VOLT_ROOT && env.VOLT_ROOT.length > 0 ? env.VOLT_ROOT : '/');
  const at = (...parts: string[]): string => path.join(root, ...parts);
  return {
    root,
    configDir: at('etc/volt'),
    configFile: at('etc/volt/config.yaml'),
    stateDir: at('var/lib/volt'),
    stateFile: at('var/lib/volt/state.json'),
    lockFile: at('var/lib/volt/state.lock'),
    runDir: at('run/volt'),
    networkdEtcDir: at('etc/systemd/network'),
    networkdRunDir: at('run/systemd/network'),
    netnsEtcDir: at('etc/netns'),
    sysctlDir: at('etc/sysctl.d'),
    sysctlConfFile: at('etc/sysctl.d/90-volt.conf'),
    tuningFile: at('var/lib/volt/tuning.json'),
    tuningLockFile: at('var/lib/volt/tuning.lock'),
  };
}
