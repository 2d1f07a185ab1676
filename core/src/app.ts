import type { Config as OclifConfig } from '@oclif/core';
import { voltPaths, type VoltPaths } from './paths';
import { loadConfig } from './config/load';
import type { VoltConfig } from './config/defaults';
import { StateStore } from './state/store';
import type { DriverRegistry } from './services/driver-registry';
import type { NetworkService } from './services/network-service';
import type { WorkloadService } from './services/workload-service';
import type { BridgeDriver } from './drivers/bridge';
import type { FirewallDriver } from './drivers/firewall';
import type { HostContext } from './di/registration';

export interface AppOptions {
  debug: boolean;
  warn(message: string): void;
}

/**
 * Everything a command needs, built lazily: the DI container, plugin drivers
 * and tsyringe load only when a command first asks for a driver.
 */
export class VoltApp {
  readonly paths: VoltPaths;
  readonly store: StateStore;
  private cachedConfig?: VoltConfig;
  private registryPromise?: Promise<DriverRegistry>;

  constructor(
    private readonly oclif: OclifConfig,
    private readonly opts: AppOptions,
  ) {
    this.paths = voltPaths();
    this.store = new StateStore(this.paths);
  }

  get config(): VoltConfig {
    this.cachedConfig ??= loadConfig(this.paths.configFile);
    return this.cachedConfig;
  }

  get host(): HostContext {
    return {
      paths: this.paths,
      warn: this.opts.warn,
      debug: (m: string) => {
        if (this.opts.debug) process.stderr.write(`debug: ${m}\n`);
      },
    };
  }

  registry(): Promise<DriverRegistry> {
    this.registryPromise ??= this.buildRegistry();
    return this.registryPromise;
  }

  private async buildRegistry(): Promise<DriverRegistry> {
    const config = this.config;
    await import('reflect-metadata');
    const { container } = await import('tsyringe');
    const { DriverRegistry } = await import('./services/driver-registry');
    const { BridgeDriver } = await import('./drivers/bridge');
    const { FirewallDriver } = await import('./drivers/firewall');
    const { DnsDriver } = await import('./drivers/dns');
    const { IngressDriver } = await import('./drivers/ingress');
    const { VmNicDriver } = await import('./drivers/vm-nic');
    const child = container.createChildContainer();
    const tokens = { bridge: BridgeDriver, firewall: FirewallDriver, dns: DnsDriver, ingress: IngressDriver, 'vm-nic': VmNicDriver };
    const result = await this.oclif.runHook('volt:register-drivers', { container: child, tokens, host: this.host });
    for (const f of result.failures) this.opts.warn(`plugin ${f.plugin.name} failed to register its drivers: ${f.error.message}`);
    return new DriverRegistry(child, tokens, config.drivers);
  }

  async bridge(): Promise<BridgeDriver> {
    return (await this.registry()).get<BridgeDriver>('bridge');
  }

  async firewall(): Promise<FirewallDriver> {
    return (await this.registry()).get<FirewallDriver>('firewall');
  }

  async workloads(): Promise<WorkloadService> {
    const { WorkloadService } = await import('./services/workload-service');
    const networks = await this.networks();
    return new WorkloadService({
      config: this.config,
      store: this.store,
      bridge: () => this.bridge(),
      firewall: () => this.firewall(),
      warn: this.opts.warn,
      notice: (m: string) => process.stderr.write(`note: ${m}\n`),
      ensureDefault: (state) => networks.ensureDefault(state),
    });
  }

  async networks(): Promise<NetworkService> {
    const { NetworkService } = await import('./services/network-service');
    return new NetworkService({
      config: this.config,
      store: this.store,
      bridge: () => this.bridge(),
      firewall: () => this.firewall(),
      warn: this.opts.warn,
    });
  }
}
