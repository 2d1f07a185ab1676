/**
 * The conformance kit's driver process. The kit starts it inside the sandbox namespace
 * (`ip netns exec NS node driver-host.js '<config>'`), because a driver acts on the namespace
 * its process runs in. It loads the plugin's `volt:register-drivers` hooks with a small
 * recording container, builds the driver of the kind and name asked for, and then answers one
 * JSON request per stdin line ({ method, args }) with one JSON line on fd 3. It stays alive
 * between requests: a VM NIC's TAP lives only while its fds are open, here.
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import * as path from 'node:path';
import { driverTokens } from '../di/tokens';
import { VmNicAccelerator } from '../drivers/vm-nic-accel';
import { GuestDhcp } from '../drivers/guest-dhcp';
import { voltPaths } from '../paths';
import type { HostContext } from '../di/registration';

export type KitKind = 'bridge' | 'firewall' | 'dns' | 'ingress' | 'vm-nic' | 'vm-nic-accel' | 'guest-dhcp';

export interface DriverHostConfig {
  kind: KitKind;
  name: string;
  /** Modules with a `volt:register-drivers` hook (default export, or the module itself). */
  hooks: string[];
}

export interface DriverHostRequest {
  method: string;
  args?: unknown[];
}

export interface DriverHostError {
  name: string;
  message: string;
  code?: string;
  exitCode?: number;
  suggestions?: string[];
}

export interface DriverHostAnswer {
  ok: boolean;
  value?: unknown;
  error?: DriverHostError;
  warnings: string[];
}

export function tokenOf(kind: KitKind): symbol {
  if (kind === 'vm-nic-accel') return VmNicAccelerator;
  if (kind === 'guest-dhcp') return GuestDhcp;
  return driverTokens[kind];
}

type Provider = { useFactory?: (c: unknown) => unknown; useValue?: unknown; useClass?: new () => unknown };

/** Just enough of tsyringe's DependencyContainer for a register hook. */
function recordingContainer(): { container: Record<string, unknown>; all(tok: symbol): unknown[] } {
  const regs = new Map<symbol, Provider[]>();
  const container: Record<string, unknown> = {};
  const make = (p: Provider): unknown => (p.useFactory ? p.useFactory(container) : p.useClass ? new p.useClass() : p.useValue);
  Object.assign(container, {
    register(tok: symbol, p: Provider) {
      regs.set(tok, [...(regs.get(tok) ?? []), p]);
      return container;
    },
    registerInstance(tok: symbol, v: unknown) {
      regs.set(tok, [...(regs.get(tok) ?? []), { useValue: v }]);
      return container;
    },
    isRegistered: (tok: symbol) => (regs.get(tok) ?? []).length > 0,
    resolve: (tok: symbol) => {
      const list = regs.get(tok) ?? [];
      if (list.length === 0) throw new Error(`nothing registered for ${String(tok)}`);
      return make(list[list.length - 1]!);
    },
    resolveAll: (tok: symbol) => (regs.get(tok) ?? []).map(make),
    createChildContainer: () => container,
  });
  return { container, all: (tok) => (regs.get(tok) ?? []).map(make) };
}

/** Run the hooks and build every driver of `kind` they register (constructors do nothing, by the rules). */
export async function loadDrivers(kind: KitKind, hooks: string[], host: HostContext): Promise<{ drivers: { name: string }[]; failures: string[] }> {
  const rec = recordingContainer();
  const failures: string[] = [];
  for (const file of hooks) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(path.resolve(file)) as Record<string, unknown> | ((...a: unknown[]) => unknown);
      const fn = typeof mod === 'function' ? mod : typeof mod.default === 'function' ? mod.default : undefined;
      if (typeof fn !== 'function') throw new Error('exports no hook function');
      const context = { config: undefined, debug() {}, log() {}, warn() {}, error(m: string) { throw new Error(m); }, exit() { throw new Error('exit'); } };
      await (fn as (...a: unknown[]) => unknown).call(context, { container: rec.container, tokens: driverTokens, host, context });
    } catch (e: unknown) {
      failures.push(`${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { drivers: rec.all(tokenOf(kind)) as { name: string }[], failures };
}

/** Every method name of an object, along its prototype chain (what a capability check sees). */
function methodsOf(o: Record<string, unknown>): string[] {
  const names = new Set<string>();
  for (let p: object | null = o; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const n of Object.getOwnPropertyNames(p)) if (n !== 'constructor' && typeof o[n] === 'function') names.add(n);
  }
  return [...names].sort();
}

function errorOf(e: unknown): DriverHostError {
  const err = e instanceof Error ? e : new Error(String(e));
  const x = err as Error & { code?: unknown; exitCode?: unknown; suggestions?: unknown };
  return {
    name: err.name,
    message: err.message,
    code: typeof x.code === 'string' ? x.code : undefined,
    exitCode: typeof x.exitCode === 'number' ? x.exitCode : undefined,
    suggestions: Array.isArray(x.suggestions) ? (x.suggestions as string[]) : undefined,
  };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as DriverHostConfig;
  let warnings: string[] = [];
  const host: HostContext = { paths: voltPaths(process.env), warn: (m) => void warnings.push(m), debug: () => undefined };
  const { drivers, failures } = await loadDrivers(config.kind, config.hooks, host);
  const driver = drivers.find((d) => d.name === config.name) as Record<string, unknown> | undefined;
  // fds the driver handed out (TAP queues, vhost), kept until the matching tear-down.
  const handles = new Map<string, unknown>();
  const keyOf = (spec: unknown): string => {
    const s = (spec ?? {}) as { ifname?: string; vm?: string; nicId?: string };
    return s.ifname ?? `${s.vm ?? ''}/${s.nicId ?? ''}`;
  };

  const answer = async (req: DriverHostRequest): Promise<unknown> => {
    if (req.method === '__describe') {
      return {
        found: driver !== undefined,
        names: drivers.map((d) => d.name),
        failures,
        methods: driver ? methodsOf(driver) : [],
      };
    }
    if (!driver) throw new Error(`no ${config.kind} driver named ${config.name}`);
    const fn = driver[req.method];
    if (typeof fn !== 'function') throw new Error(`the driver has no method ${req.method}`);
    const args = [...(req.args ?? [])];
    if ((req.method === 'teardownNic' || req.method === 'teardownAccel') && args.length < 2) {
      const h = handles.get(keyOf(args[0]));
      if (h !== undefined) args[1] = h;
    }
    const value = (await (fn as (...a: unknown[]) => Promise<unknown>).apply(driver, args)) as unknown;
    if (req.method === 'setupNic' || req.method === 'setupAccel') {
      handles.set(keyOf(args[0]), value);
      const v = (value ?? {}) as { ifname?: string; tapFds?: number[]; fds?: number[]; warnings?: string[] };
      return { ifname: v.ifname, fds: (v.tapFds ?? v.fds ?? []).length, warnings: v.warnings ?? [] };
    }
    if (req.method === 'teardownNic' || req.method === 'teardownAccel') handles.delete(keyOf(args[0]));
    return value ?? null;
  };

  // Answers go to fd 3: a driver may print to stdout (volt-dns does).
  const answers = fs.createWriteStream('', { fd: 3 });
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line.trim() === '') continue;
    warnings = [];
    let out: DriverHostAnswer;
    try {
      out = { ok: true, value: await answer(JSON.parse(line) as DriverHostRequest), warnings };
    } catch (e: unknown) {
      out = { ok: false, error: errorOf(e), warnings };
    }
    answers.write(JSON.stringify(out) + '\n');
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`driver host: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
