import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Module from 'node:module';
import type { Config as OclifConfig } from '@oclif/core';
import { checkPluginSdk } from '@volt/sdk';
import type { OutputFormat } from '../output/render';

/**
 * The hot calls without oclif: `volt --version` and `volt net list [-o table|json|yaml] [--debug]`.
 * Built into core/dist/volt-fast.js (scripts/bundle.mjs), which holds no oclif at all;
 * core/bin/run.js tries it first for these argv shapes. See docs/decisions/0007-cli-startup-2.md.
 *
 * It answers only when oclif would run exactly this code, and otherwise says "not handled"
 * (false) before anything was printed, so run.js goes through oclif as before:
 * - argv is one of the exact shapes above (anything else, `--help`, a bad -o value, a
 *   repeated flag: oclif parses it and gives its own errors);
 * - no user-installed or linked plugins (oclif's `<dataDir>/package.json` lists none):
 *   one could override `net list` or register drivers;
 * - core's package.json has no hooks and no extra version flags, and every plugin it lists
 *   has only hooks this path runs itself (`volt:register-drivers`) or that never fire
 *   here (`update`), and no command `net:list` (or alias) in its manifest;
 * - the command succeeds. Any error (a corrupt state file, no bridge driver, a plugin
 *   that cannot be read) means "not handled": `net list` only reads, so oclif running it
 *   again prints the error exactly as before. Warnings and debug lines are held back
 *   until the output is known to be ours.
 */

const HOOK = 'volt:register-drivers';
/** Hooks a listed plugin may have without the fast path stepping aside. */
const HOOKS_RUN_OR_NEVER_FIRED = new Set([HOOK, 'update']);

interface PackageJson {
  name?: string;
  version?: string;
  peerDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
  volt?: { sdk?: string };
  oclif?: {
    plugins?: unknown[];
    hooks?: Record<string, unknown>;
    commands?: unknown;
    additionalVersionFlags?: unknown[];
    dirname?: string;
  };
}

interface Plugin {
  name: string;
  root: string;
  hooks: string[];
}

type Parsed = { kind: 'version' } | { kind: 'net-list'; output: OutputFormat; debug: boolean };

/** The argv shapes this path answers; undefined for anything else. */
export function parseFastArgv(argv: string[]): Parsed | undefined {
  if (argv.length === 1 && argv[0] === '--version') return { kind: 'version' };
  if (argv[0] !== 'net' || argv[1] !== 'list') return undefined;
  let output: OutputFormat | undefined;
  let debug = false;
  const formats: readonly string[] = ['table', 'json', 'yaml'];
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!;
    let value: string | undefined;
    if (a === '--debug' && !debug) {
      debug = true;
      continue;
    } else if ((a === '-o' || a === '--output') && i + 1 < argv.length) value = argv[++i];
    else if (a.startsWith('--output=')) value = a.slice('--output='.length);
    else return undefined;
    if (output !== undefined || value === undefined || !formats.includes(value)) return undefined;
    output = value as OutputFormat;
  }
  return { kind: 'net-list', output: output ?? 'table', debug };
}

function readJson(file: string): PackageJson {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as PackageJson;
}

/** oclif's data directory (Config.dir('data')), where `volt plugins install/link` records plugins. */
function oclifDataDir(pjson: PackageJson, env: NodeJS.ProcessEnv): string {
  if (env.VOLT_DATA_DIR) return env.VOLT_DATA_DIR;
  const home = env.HOME || os.homedir();
  return path.join(env.XDG_DATA_HOME || path.join(home, '.local/share'), pjson.oclif?.dirname ?? pjson.name ?? 'volt');
}

function hasUserPlugins(dataDir: string): boolean {
  let pjson: PackageJson;
  try {
    pjson = readJson(path.join(dataDir, 'package.json'));
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    return true; // unreadable: let oclif deal with it
  }
  return (pjson.oclif?.plugins ?? []).length > 0;
}

/** A plugin's root the way Node resolves a package name from core's directory. */
function pluginRoot(name: string, from: string): string | undefined {
  for (const dir of (Module as unknown as { _nodeModulePaths(p: string): string[] })._nodeModulePaths(from)) {
    const candidate = path.join(dir, name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return fs.realpathSync(candidate);
  }
  return undefined;
}

function hookTargets(value: unknown): string[] | undefined {
  const list = Array.isArray(value) ? value : [value];
  return list.every((v): v is string => typeof v === 'string') ? list : undefined;
}

/** Whether a plugin's manifest names `net:list` (as an id or alias); a plugin with commands and no manifest counts as yes. */
function mayOverrideNetList(root: string): boolean {
  let manifest: { commands?: Record<string, { aliases?: string[] }> };
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(root, 'oclif.manifest.json'), 'utf8')) as typeof manifest;
  } catch {
    return true;
  }
  if (!manifest.commands) return true;
  for (const [id, c] of Object.entries(manifest.commands)) if (id === 'net:list' || (c.aliases ?? []).includes('net:list')) return true;
  return false;
}

/** The plugins core lists, in order, when the fast path may stand in for oclif; else why it may not. */
function corePlugins(coreRoot: string, pjson: PackageJson, needCommands: boolean): Plugin[] | string {
  const oclif = pjson.oclif ?? {};
  if (oclif.hooks && Object.keys(oclif.hooks).length > 0) return 'core has oclif hooks';
  if ((oclif.additionalVersionFlags ?? []).length > 0) return 'core has additional version flags';
  const plugins: Plugin[] = [];
  for (const name of oclif.plugins ?? []) {
    if (typeof name !== 'string') return 'a plugin entry is not a package name';
    const root = pluginRoot(name, coreRoot);
    if (!root) return `plugin ${name} not found`;
    const p = readJson(path.join(root, 'package.json'));
    const hooks: string[] = [];
    for (const [event, value] of Object.entries(p.oclif?.hooks ?? {})) {
      if (!HOOKS_RUN_OR_NEVER_FIRED.has(event)) return `plugin ${name} has a ${event} hook`;
      const targets = hookTargets(value);
      if (!targets) return `plugin ${name}: ${event} hook not a file name`;
      if (event === HOOK) hooks.push(...targets);
    }
    if (needCommands && p.oclif?.commands !== undefined && mayOverrideNetList(root)) return `plugin ${name} may provide net list`;
    // The SDK check (services/plugin-compat.ts) runs on the oclif path, which then warns and
    // leaves the plugin out: a plugin that fails it sends the call there.
    if (hooks.length > 0 && !checkPluginSdk({ ...p, name }).ok) return `plugin ${name} is refused by the SDK check`;
    plugins.push({ name, root, hooks });
  }
  return plugins;
}

/** oclif's Config.runHook for `volt:register-drivers` only: each listed plugin's hook, in order, failures collected. */
function hookRunner(plugins: Plugin[]): Pick<OclifConfig, 'runHook'> {
  const runHook = async (event: string, opts: Record<string, unknown>) => {
    const final: { successes: unknown[]; failures: { error: Error; plugin: { name: string } }[] } = { successes: [], failures: [] };
    if (event !== HOOK) throw new Error(`fast path: unexpected hook ${event}`);
    await Promise.all(
      plugins.map(async (p) => {
        for (const target of p.hooks) {
          try {
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            const mod = require(path.resolve(p.root, target)) as Record<string, unknown> | ((...a: unknown[]) => unknown);
            const fn =
              typeof mod === 'function'
                ? mod
                : typeof mod.default === 'function'
                  ? mod.default
                  : Object.values(mod).find((m) => typeof m === 'function');
            if (typeof fn !== 'function') continue;
            const context = { config: undefined, debug() {}, log() {}, warn() {}, error(m: string) { throw new Error(m); }, exit() { throw new Error('exit'); } };
            final.successes.push({ plugin: { name: p.name }, result: await (fn as (...a: unknown[]) => unknown).call(context, { ...opts, context }) });
          } catch (error: unknown) {
            final.failures.push({ error: error as Error, plugin: { name: p.name } });
          }
        }
      }),
    );
    return final;
  };
  return { runHook: runHook as unknown as OclifConfig['runHook'] };
}

/**
 * Answer the call without oclif when that gives the same result; false when it did not
 * (nothing was printed then, and oclif should run the call).
 */
export async function runFast(argv: string[], coreRoot: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  // VOLT_FAST_PATH_DEBUG=1: say on stderr whether the fast path answered, and if not why (tests, profiling).
  const notUsed = (why: string): false => {
    if (env.VOLT_FAST_PATH_DEBUG) process.stderr.write(`fast path: not used: ${why}\n`);
    return false;
  };
  const parsed = parseFastArgv(argv);
  if (!parsed) return notUsed('arguments');
  try {
    const pjson = readJson(path.join(coreRoot, 'package.json'));
    if (hasUserPlugins(oclifDataDir(pjson, env))) return notUsed('user-installed or linked plugins');
    const plugins = corePlugins(coreRoot, pjson, parsed.kind === 'net-list');
    if (typeof plugins === 'string') return notUsed(plugins);
    if (env.VOLT_FAST_PATH_DEBUG) process.stderr.write('fast path: used\n');
    if (parsed.kind === 'version') {
      process.stdout.write(`${pjson.name}/${pjson.version} ${process.platform}-${process.arch} node-${process.version}\n`);
      return true;
    }
    const held: string[] = [];
    const { VoltApp } = await import('../app');
    const app = new VoltApp(hookRunner(plugins) as OclifConfig, { debug: parsed.debug, warn: (m) => held.push(`warning: ${m}\n`) });
    // VoltApp prints debug lines straight to stderr; hold them back like the warnings.
    const stderrWrite = process.stderr.write;
    let text: string;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      held.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return true;
    }) as typeof process.stderr.write;
    try {
      const { networkColumnsFor, listingText } = await import('./net-list-view');
      const rows = await (await app.networks()).list();
      text = listingText(parsed.output, networkColumnsFor(rows), rows);
    } finally {
      process.stderr.write = stderrWrite;
    }
    for (const h of held) process.stderr.write(h);
    // Like oclif's Command: a reader that goes away (`| head`) is not an error.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
    process.stdout.write(text);
    return true;
  } catch (e: unknown) {
    return notUsed((e as Error).stack ?? String(e));
  }
}
