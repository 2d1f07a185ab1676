/**
 * The drivers the kernel runners test, found the way volt finds them: through the
 * `volt:register-drivers` hooks of the plugins core/package.json lists (no driver class is
 * imported by name here). Shared by bridge-driver-runner, 300-vm-nic-runner and nftables-runner.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HostContext } from '@volt/sdk';
import { loadDrivers, type KitKind } from '@volt/sdk/testing';

const REPO = path.resolve(__dirname, '../../..');

/** The hook modules of the plugins volt ships with, in core's order. */
export function builtinHooks(): string[] {
  const core = JSON.parse(fs.readFileSync(path.join(REPO, 'core/package.json'), 'utf8')) as { oclif: { plugins: string[] } };
  const hooks: string[] = [];
  for (const name of core.oclif.plugins) {
    if (!name.startsWith('@volt/')) continue;
    const root = path.dirname(require.resolve(`${name}/package.json`));
    const pjson = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { oclif?: { hooks?: Record<string, string> } };
    const target = pjson.oclif?.hooks?.['volt:register-drivers'];
    if (target) hooks.push(require.resolve(path.resolve(root, target)));
  }
  return hooks;
}

/**
 * The built-in driver of `kind` called `name`, made by its plugin's hook. With `options`, the
 * same class is made again with them after the host context (networkd's timeouts), as a test
 * would construct it.
 */
export async function builtinDriver<T>(kind: KitKind, name: string, host: HostContext, options?: Record<string, unknown>): Promise<T> {
  const { drivers, failures } = await loadDrivers(kind, builtinHooks(), host);
  const d = drivers.find((x) => x.name === name);
  if (!d) throw new Error(`no built-in ${kind} driver named ${name} (have: ${drivers.map((x) => x.name).join(', ')}${failures.length ? `; hook failures: ${failures.join('; ')}` : ''})`);
  if (options === undefined) return d as T;
  const ctor = d.constructor as new (host: HostContext, options: Record<string, unknown>) => T;
  return new ctor(host, options);
}
