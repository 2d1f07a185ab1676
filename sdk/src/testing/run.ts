import { UserInputError } from '../errors';
import { DriverClient } from './driver-client';
import type { KitKind } from './driver-host';
import { Sandbox, type SandboxOptions } from './sandbox';
import { takeSnapshot } from './snapshot';
import { CaseFailed, CaseSkipped, listDiff, resetTo, type Suite, type SuiteContext } from './suite';
import { bridgeSuite } from './bridge-suite';
import { firewallSuite } from './firewall-suite';
import { vmNicSuite } from './vm-nic-suite';
import { dnsSuite } from './dns-suite';
import { guestDhcpSuite } from './guest-dhcp-suite';

/** The contract kinds the kit has a behaviour suite for. */
export const CONFORMANCE_KINDS = ['bridge', 'firewall', 'dns', 'vm-nic', 'guest-dhcp'] as const;
export type ConformanceKind = (typeof CONFORMANCE_KINDS)[number];

const SUITES: Record<ConformanceKind, Suite> = {
  bridge: bridgeSuite,
  firewall: firewallSuite,
  dns: dnsSuite,
  'vm-nic': vmNicSuite,
  'guest-dhcp': guestDhcpSuite,
};

export interface ConformanceOptions {
  kind: ConformanceKind;
  /**
   * The driver under test: its name, and the module(s) with the plugin's `volt:register-drivers`
   * hook (e.g. require.resolve('./dist/register')), which the kit loads inside the sandbox.
   */
  driver: { name: string; hook: string | string[] };
  sandbox?: SandboxOptions;
  /** Only the cases whose name contains one of these strings. */
  only?: string[];
  /** Called as each case finishes (progress output). */
  onCase?(c: ConformanceCase): void;
}

export interface ConformanceCase {
  kind: string;
  name: string;
  status: 'pass' | 'fail' | 'skip';
  /** Why it failed or was skipped. */
  reason?: string;
  /** Warnings the driver printed during the case. */
  warnings?: string[];
}

export interface ConformanceResult {
  kind: string;
  driver: string;
  sandbox: 'fresh' | 'current';
  ok: boolean;
  passed: number;
  failed: number;
  skipped: number;
  cases: ConformanceCase[];
}

function reasonOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Run the behaviour suite of `kind` against one driver, in a sandbox network namespace the
 * kit makes (and deletes) itself. Never throws for a driver that misbehaves: each case is a
 * result. Throws (UserInputError, E_KIT_*) only when it cannot run at all: an unknown kind, a
 * driver the hooks do not register, a sandbox it cannot make.
 */
export async function runConformance(opts: ConformanceOptions): Promise<ConformanceResult> {
  const suite = SUITES[opts.kind];
  if (!suite) {
    throw new UserInputError(`run the conformance kit: there is no behaviour suite for ${JSON.stringify(opts.kind)}; kinds: ${CONFORMANCE_KINDS.join(', ')}`, {
      code: 'E_KIT_KIND',
    });
  }
  const hooks = Array.isArray(opts.driver.hook) ? opts.driver.hook : [opts.driver.hook];
  const sb = await Sandbox.create(opts.sandbox);
  const cases: ConformanceCase[] = [];
  const push = (c: ConformanceCase): void => {
    cases.push(c);
    opts.onCase?.(c);
  };
  let driver: DriverClient | undefined;
  try {
    driver = new DriverClient(sb, { kind: opts.kind as KitKind, name: opts.driver.name, hooks });
    const info = (await driver.call('__describe')).value as { found: boolean; names: string[]; failures: string[]; methods: string[] };
    if (!info.found) {
      throw new UserInputError(
        `run the conformance kit: no ${opts.kind} driver named ${JSON.stringify(opts.driver.name)} is registered by ${hooks.join(', ')}; registered: ${info.names.join(', ') || 'none'}`,
        { code: 'E_KIT_DRIVER', suggestions: info.failures.map((f) => `a hook failed: ${f}`) },
      );
    }
    const avail = await driver.call('available');
    const a = avail.ok ? (avail.value as { ok: boolean; reason: string }) : { ok: false, reason: avail.error?.message ?? 'available() threw' };
    const unavailable = !a.ok
      ? `the driver is not available in the sandbox: ${a.reason}` + (sb.mode === 'fresh' ? ' (a driver that needs a service, such as systemd-networkd, is tested with sandbox current inside a namespace where it runs)' : '')
      : undefined;
    push({ kind: opts.kind, name: 'available() succeeds in the sandbox', status: a.ok ? 'pass' : 'fail', reason: unavailable });

    await suite.prepare?.(sb);
    const baseline = await takeSnapshot(sb);
    const ctx: SuiteContext = { sb, driver, methods: info.methods, baseline, snapshot: () => takeSnapshot(sb) };
    for (const c of suite.cases) {
      if (opts.only && !opts.only.some((o) => c.name.includes(o))) continue;
      if (unavailable) {
        push({ kind: opts.kind, name: c.name, status: 'skip', reason: 'not run: the driver is not available in the sandbox' });
        continue;
      }
      let result: ConformanceCase;
      try {
        await c.run(ctx);
        result = { kind: opts.kind, name: c.name, status: 'pass' };
      } catch (e: unknown) {
        if (e instanceof CaseSkipped) result = { kind: opts.kind, name: c.name, status: 'skip', reason: e.message };
        else result = { kind: opts.kind, name: c.name, status: 'fail', reason: e instanceof CaseFailed ? e.message : `the kit could not run the case: ${reasonOf(e)}` };
      }
      // Back to the baseline for the next case: the driver's own tear-downs, then whatever is left.
      try {
        await suite.cleanup?.(driver);
      } catch {
        /* best effort */
      }
      const left = await resetTo(sb, baseline);
      if (left.length > 0 && result.status !== 'fail') {
        result = { ...result, status: 'fail', reason: `the sandbox could not be brought back to its state before the case: ${listDiff(left)}` };
      }
      push(result);
    }
  } finally {
    await driver?.stop();
    await sb.destroy();
  }
  const passed = cases.filter((c) => c.status === 'pass').length;
  const failed = cases.filter((c) => c.status === 'fail').length;
  return { kind: opts.kind, driver: opts.driver.name, sandbox: sb.mode, ok: failed === 0, passed, failed, skipped: cases.length - passed - failed, cases };
}
