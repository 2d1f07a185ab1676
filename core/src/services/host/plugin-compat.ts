import type { Interfaces } from '@oclif/core';
import { checkPluginSdk } from '@volt/sdk';
import type { RefusedPlugin } from './driver-registry';

export const REGISTER_DRIVERS_HOOK = 'volt:register-drivers';

/** The parts of a plugin's package.json the SDK check reads, parsed at the edge. */
function manifestOf(p: Interfaces.Plugin): Parameters<typeof checkPluginSdk>[0] {
  const pjson: Record<string, unknown> = p.pjson;
  const strings = (v: unknown): Record<string, string> | undefined =>
    v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string')) : undefined;
  const volt = pjson.volt !== null && typeof pjson.volt === 'object' ? (pjson.volt as Record<string, unknown>) : {};
  return {
    name: p.name,
    version: p.version,
    peerDependencies: strings(pjson.peerDependencies),
    dependencies: strings(pjson.dependencies),
    volt: typeof volt.sdk === 'string' ? { sdk: volt.sdk } : undefined,
  };
}

/**
 * Before `volt:register-drivers` runs: every plugin that registers drivers must be built for
 * this SDK's major. One that is not has its hook taken out for this process (none of its code
 * loads) and is returned, with why and how to fix it, for a warning and for errors that would
 * otherwise only say its driver is unknown.
 */
export function refuseIncompatiblePlugins(plugins: Iterable<Interfaces.Plugin>): RefusedPlugin[] {
  const refused: RefusedPlugin[] = [];
  for (const p of plugins) {
    if ((p.hooks[REGISTER_DRIVERS_HOOK] ?? []).length === 0) continue;
    const check = checkPluginSdk(manifestOf(p));
    if (check.ok) continue;
    p.hooks[REGISTER_DRIVERS_HOOK] = [];
    refused.push({ plugin: `${p.name} ${p.version}`, reason: check.reason, fix: check.fix });
  }
  return refused;
}

export function refusalMessage(r: RefusedPlugin): string {
  return `plugin ${r.plugin} was not loaded: ${r.reason}. To fix: ${r.fix}.`;
}
