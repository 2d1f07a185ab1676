import type { DependencyContainer } from 'tsyringe';
import { UserInputError, DriverError } from '@volt/sdk';
import type { Driver, DriverKind } from '@volt/sdk';
import type { DriverTokens } from '@volt/sdk';
import type { Token } from '@volt/sdk';
import { capabilitiesOf, capabilityGaps, kindOfToken, type Capability, type DriverOf } from '@volt/sdk';

export interface DriverChoice {
  name: string;
  description: string;
  available: boolean;
  reason: string;
  active: boolean;
  fallback: boolean;
  /** Optional parts of the contract it implements (capabilities.ts): "vlans", "rules", … */
  capabilities?: string[];
}

/** A plugin whose drivers were not loaded, and why (built for another SDK major). */
export interface RefusedPlugin {
  plugin: string;
  reason: string;
  fix: string;
}

export interface Selection<T extends Driver> {
  kind: DriverKind;
  active?: T;
  /** Why this one: "configured (drivers.bridge)", "networkd: not running → direct". */
  why: string;
  choices: DriverChoice[];
}

/** A driver's availability probe; a probe that throws means unavailable, for that reason. */
export async function probeDriver(d: Driver): Promise<{ ok: boolean; reason: string }> {
  try {
    return await d.available();
  } catch (e: unknown) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * Picks one implementation per contract: explicit config wins, then
 * detection (highest preference that reports available), then the fallback.
 */
export class DriverRegistry {
  private readonly cache = new Map<DriverKind, Promise<Selection<Driver>>>();

  constructor(
    private readonly container: DependencyContainer,
    private readonly tokens: DriverTokens,
    private readonly configured: Partial<Record<DriverKind, string>>,
    /** Plugins refused at load (their drivers are missing on purpose): named in errors about missing drivers. */
    readonly refused: readonly RefusedPlugin[] = [],
  ) {}

  candidates<T extends Driver>(kind: DriverKind): T[] {
    const tok = this.tokens[kind] as Token<T>;
    if (!this.container.isRegistered(tok, true)) return [];
    // Detection order: preferred first, the fallback last.
    return this.container
      .resolveAll<T>(tok)
      .sort((a, b) => Number(a.fallback) - Number(b.fallback) || b.preference - a.preference);
  }

  select<T extends Driver>(kind: DriverKind): Promise<Selection<T>> {
    let p = this.cache.get(kind);
    if (!p) {
      p = this.doSelect(kind);
      this.cache.set(kind, p);
    }
    return p as Promise<Selection<T>>;
  }

  /**
   * The active driver, or an error that says why there is none. Typed by its token
   * (`get(BridgeDriver)`) or its kind (`get('bridge')`).
   */
  async get<K extends DriverKind>(kind: K): Promise<DriverOf[K]>;
  async get<T extends Driver>(token: Token<T>): Promise<T>;
  async get<T extends Driver>(kind: DriverKind): Promise<T>;
  async get(which: DriverKind | symbol): Promise<Driver> {
    const kind = typeof which === 'symbol' ? kindOfToken(which) : which;
    if (kind === undefined) throw new Error(`driver registry: ${String(which)} is not a contract the registry selects`);
    const s = await this.select(kind);
    if (s.active) return s.active;
    throw new DriverError(`select ${kind} driver: ${s.why}`, {
      code: 'E_NO_DRIVER',
      suggestions: [`run \`volt driver list\` to see the ${kind} drivers and why each is unavailable`],
    });
  }

  /** Does the active driver of `kind` implement that optional part of its contract? */
  async has<K extends DriverKind>(kind: K, capability: Capability<K>): Promise<boolean> {
    const s = await this.select(kind);
    return s.active !== undefined && capabilitiesOf(kind, s.active).includes(capability);
  }

  /** Names in a `drivers:` section that no installed plugin provides. */
  unknownNames(configured: Partial<Record<DriverKind, string>> = this.configured): string[] {
    const out: string[] = [];
    for (const [kind, name] of Object.entries(configured) as [DriverKind, string][]) {
      const names = this.candidates(kind).map((d) => d.name);
      if (!names.includes(name)) out.push(`drivers.${kind}: "${name}" (valid: ${names.join(', ') || 'none installed'})`);
    }
    return out;
  }

  /**
   * Guest DHCP goes with the bridge driver: a service made for one bridge driver (`forBridge`,
   * networkd's DHCPServer lives in the bridge's .network) is never chosen with another, and
   * detection tries the one made for the active bridge driver first. Why a driver does not fit, or undefined.
   */
  private async pairing(kind: DriverKind): Promise<((d: Driver) => string | undefined) | undefined> {
    if (kind !== 'guest-dhcp') return undefined;
    const bridge = (await this.select('bridge').catch(() => undefined))?.active?.name;
    return (d) => {
      const fb = (d as { forBridge?: string }).forBridge;
      return fb !== undefined && fb !== bridge ? `goes with the ${fb} bridge driver, and the active one is ${bridge ?? 'none'}` : undefined;
    };
  }

  private async doSelect(kind: DriverKind): Promise<Selection<Driver>> {
    const misfit = await this.pairing(kind);
    let drivers = this.candidates<Driver>(kind);
    if (misfit) {
      // Made for the active bridge driver first, then those for any bridge (stable: preference order kept).
      const paired = (d: Driver): boolean => (d as { forBridge?: string }).forBridge !== undefined && misfit(d) === undefined;
      drivers = [...drivers.filter(paired), ...drivers.filter((d) => !paired(d))];
    }
    const probes = await Promise.all(
      drivers.map(async (d) => {
        const why = misfit?.(d);
        return why !== undefined ? { ok: false, reason: why } : probeDriver(d);
      }),
    );
    const choices: DriverChoice[] = drivers.map((d, i) => ({
      name: d.name,
      description: d.description,
      available: probes[i]!.ok,
      reason: probes[i]!.reason,
      active: false,
      fallback: d.fallback,
      capabilities: capabilitiesOf(kind, d),
    }));
    // A capability implemented in part is not used; say so where the driver is listed.
    drivers.forEach((d, i) => {
      const gaps = capabilityGaps(kind, d);
      if (gaps.length > 0) choices[i]!.reason += ` (incomplete, not used: ${gaps.join('; ')})`;
    });
    const mark = (i: number, why: string): Selection<Driver> => {
      choices[i]!.active = true;
      return { kind, active: drivers[i], why, choices };
    };

    const wanted = this.configured[kind];
    if (wanted !== undefined) {
      const i = drivers.findIndex((d) => d.name === wanted);
      if (i < 0) {
        throw new UserInputError(
          `select ${kind} driver: drivers.${kind} is "${wanted}", which no installed plugin provides; valid: ${drivers.map((d) => d.name).join(', ') || 'none'}`,
          {
            code: 'E_DRIVER_UNKNOWN',
            suggestions: [
              ...this.refused.map((r) => `plugin ${r.plugin} was not loaded: ${r.reason}; ${r.fix}`),
              `set drivers.${kind} to one of them in config.yaml, or remove it to auto-detect`,
            ],
          },
        );
      }
      if (!probes[i]!.ok) {
        return { kind, why: `configured ${wanted}, but ${probes[i]!.reason}`, choices };
      }
      return mark(i, `configured (drivers.${kind})`);
    }
    const skipped: string[] = [];
    for (let i = 0; i < drivers.length; i++) {
      const d = drivers[i]!;
      if (probes[i]!.ok) {
        const why = d.fallback
          ? skipped.length > 0
            ? `${skipped.join('; ')} → ${d.name}`
            : `fallback`
          : `detected: ${probes[i]!.reason}`;
        return mark(i, why);
      }
      skipped.push(`${d.name}: ${probes[i]!.reason}`);
    }
    return { kind, why: drivers.length === 0 ? 'no driver installed' : `none available (${skipped.join('; ')})`, choices };
  }
}
