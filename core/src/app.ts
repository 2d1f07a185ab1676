import type { Config as OclifConfig } from '@oclif/core';
import { voltPaths, type VoltPaths } from '@volt/sdk';
import { loadConfig } from './config/load';
import type { VoltConfig } from './config/defaults';
import { StateStore } from './state/store';
import type { DriverRegistry } from './services/host/driver-registry';
import type { NetworkService } from './services/network/network-service';
import type { WorkloadService } from './services/attachments/workload-service';
import type { FirewallService } from './services/firewall/firewall-service';
import type { PortService } from './services/firewall/port-service';
import type { PolicyService } from './services/firewall/policy-service';
import type { BridgeDriver } from '@volt/sdk';
import type { FirewallDriver } from '@volt/sdk';
import type { DnsDriver } from '@volt/sdk';
import type { HostContext } from '@volt/sdk';
import type { GuestDhcp, VmNicAccelerator, VmNicDriver } from '@volt/sdk';
import type { VmNicDriverSet, VmService } from './services/vm/vm-service';
import type { PlanDeps } from './services/attachments/plans';
import { kernelProbes, type KernelProbes } from './services/attachments/attach-probes';
import { useNetlinkLibrary } from '@volt/sdk/kernel';

// Link reads and container-port writes through rtnetlink in-process (VOLT_KERNEL_ACCESS=process:
// `ip -j`, `ip -batch`), opened on first use.
useNetlinkLibrary(() => {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { netlinkApply, netlinkDump, netlinkFdb, netlinkFdbHas, netlinkLink } = require('@volt/native') as typeof import('@volt/native');
    // Does it work here? One request (lo), not a dump of every link: with 1,000 ports that dump was most of a connect.
    netlinkLink('lo');
    return {
      dump: (nsPath) => netlinkDump(nsPath),
      fdb: () => netlinkFdb(),
      apply: (nsPath, requests) => netlinkApply(nsPath, requests),
      link: (ifname) => netlinkLink(ifname),
      fdbHas: (bridge, mac) => netlinkFdbHas(bridge, mac),
    };
  } catch (e: unknown) {
    return { failed: e instanceof Error ? e.message : String(e) };
  }
});

export interface AppOptions {
  debug: boolean;
  warn(message: string): void;
  /** -v: extra notes (e.g. config sections volt ignored). */
  verbose?: boolean;
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
  private vmServicePromise?: Promise<VmService>;
  private dhcpPromise?: Promise<GuestDhcp>;
  /** The kernel reads services make (attach-probes.ts); also registered in the driver container under its token. */
  readonly probes: KernelProbes = kernelProbes;

  constructor(
    private readonly oclif: OclifConfig,
    private readonly opts: AppOptions,
  ) {
    this.paths = voltPaths();
    this.store = new StateStore(this.paths);
  }

  get config(): VoltConfig {
    this.cachedConfig ??= loadConfig(this.paths.configFile, {
      warn: this.opts.warn,
      notice: (m) => {
        if (this.opts.verbose === true) process.stderr.write(`note: ${m}\n`);
      },
    });
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
    const { DriverRegistry } = await import('./services/host/driver-registry');
    const { driverTokens: tokens } = await import('@volt/sdk');
    const { KernelProbes } = await import('./services/attachments/attach-probes');
    const { refuseIncompatiblePlugins, refusalMessage } = await import('./services/host/plugin-compat');
    // A plugin built for another SDK major is refused before any of its code loads.
    // The fast path (cli/fast-path.ts) hands over a hook runner only, after checking the same.
    const refused = this.oclif.plugins ? refuseIncompatiblePlugins(this.oclif.plugins.values()) : [];
    for (const r of refused) this.opts.warn(refusalMessage(r));
    const child = container.createChildContainer();
    child.register(KernelProbes, { useValue: this.probes });
    const result = await this.oclif.runHook('volt:register-drivers', { container: child, tokens, host: this.host });
    for (const f of result.failures) this.opts.warn(`plugin ${f.plugin.name} failed to register its drivers: ${f.error.message}`);
    return new DriverRegistry(child, tokens, config.drivers, refused);
  }

  async bridge(): Promise<BridgeDriver> {
    return (await this.registry()).get('bridge');
  }

  async firewall(): Promise<FirewallDriver> {
    const registry = await this.registry();
    const fw = registry.get('firewall');
    // A bridge driver that switches frames itself enforces the policies inside its networks (switched-policies.ts).
    const { switchedPoliciesOf, firewallWithSwitchedPolicies } = await import('./services/firewall/switched-policies');
    const switched = switchedPoliciesOf(await this.bridge().catch(() => undefined));
    return switched ? firewallWithSwitchedPolicies(await fw, switched, this.opts.warn) : fw;
  }

  async dns(): Promise<DnsDriver> {
    return (await this.registry()).get('dns');
  }

  /**
   * What the attachment executor (and every settlement of a pending record) works through: the
   * driver contracts, the kernel probes, VM NICs through the vm-nic drivers and guest DHCP (loaded
   * only when a VM is involved), and the attachment listeners (DNS files, firewall rules naming workloads).
   */
  private async planDeps(): Promise<PlanDeps> {
    const { resolvConfListener } = await import('./services/dns/dns-resolvconf');
    const { followWorkloads } = await import('./services/firewall/firewall-service');
    const { compileRuleSet } = await import('./services/firewall/firewall-compile');
    const { contractVmPorts } = await import('./services/attachments/attach-exec');
    const { hostPolicyOf } = await import('./services/attachments/plans');
    const { announceWorkloads } = await import('./services/attachments/announce');
    return {
      bridge: () => this.bridge(),
      firewall: () => this.firewall(),
      warn: this.opts.warn,
      hostPolicy: hostPolicyOf(this.config),
      firewallRules: compileRuleSet,
      probes: this.probes,
      vmPorts: contractVmPorts({ nicDrivers: async () => (await this.vmNicDrivers()).all, dhcp: () => this.guestDhcp() }),
      // Announcing comes last: only then does the firewall let the new port's traffic through.
      listeners: [
        resolvConfListener(this.paths, this.config, this.opts.warn),
        followWorkloads({ firewall: () => this.firewall() }),
        announceWorkloads(this.opts.warn),
      ],
    };
  }

  async workloads(): Promise<WorkloadService> {
    const { WorkloadService } = await import('./services/attachments/workload-service');
    const { AttachmentExecutor } = await import('./services/attachments/attach-exec');
    const networks = await this.networks();
    return new WorkloadService({
      config: this.config,
      store: this.store,
      probes: this.probes,
      executor: new AttachmentExecutor({ ...(await this.planDeps()), store: this.store }),
      warn: this.opts.warn,
      notice: (m: string) => process.stderr.write(`note: ${m}\n`),
      ensureDefault: (state) => networks.ensureDefault(state),
    });
  }

  async networks(): Promise<NetworkService> {
    // The network service plus what VMs add to `net up` / `net delete` (vm-network-hooks.ts).
    const { VmAwareNetworkService } = await import('./services/vm/vm-network-hooks');
    const { compileRuleSet } = await import('./services/firewall/firewall-compile');
    const d = await this.planDeps();
    return new VmAwareNetworkService(
      {
        config: this.config,
        store: this.store,
        bridge: () => this.bridge(),
        firewall: () => this.firewall(),
        warn: this.opts.warn,
        firewallRules: compileRuleSet,
        probes: this.probes,
        // Settling an interrupted VM connect or a connect's listeners needs these too.
        vmPorts: d.vmPorts,
        listeners: d.listeners,
      },
      () => this.vms(),
    );
  }

  /** User firewall rules (`volt net firewall`). */
  async firewallRules(): Promise<FirewallService> {
    const { FirewallService } = await import('./services/firewall/firewall-service');
    return new FirewallService({ config: this.config, store: this.store, firewall: () => this.firewall(), warn: this.opts.warn });
  }

  /** Port forwards (`volt net port`). */
  async ports(): Promise<PortService> {
    const { PortService } = await import('./services/firewall/port-service');
    return new PortService({ config: this.config, store: this.store, firewall: () => this.firewall(), warn: this.opts.warn });
  }

  /** Network policies (`volt net policy`). */
  async policies(): Promise<PolicyService> {
    const { PolicyService } = await import('./services/firewall/policy-service');
    return new PolicyService({
      config: this.config,
      store: this.store,
      firewall: () => this.firewall(),
      warn: this.opts.warn,
      bridgeFiltering: async (bridges) => {
        const fw = await this.firewall();
        return fw.bridgeFiltering ? fw.bridgeFiltering(bridges) : [];
      },
      unfilteredBridgeDriver: async () => {
        const b = await this.bridge().catch(() => undefined);
        const { switchedPoliciesOf } = await import('./services/firewall/switched-policies');
        return b?.filtersSwitchedTraffic === false && !switchedPoliciesOf(b) ? b.name : undefined;
      },
      switchedPolicyDriver: async () => {
        const { switchedPoliciesOf } = await import('./services/firewall/switched-policies');
        return switchedPoliciesOf(await this.bridge().catch(() => undefined))?.name;
      },
    });
  }

  /** The VM lifecycle service (QEMU, NICs through the vm-nic drivers, guest DHCP). */
  vms(): Promise<VmService> {
    this.vmServicePromise ??= (async () => {
      const { VmService } = await import('./services/vm/vm-service');
      return new VmService({
        config: this.config,
        store: this.store,
        paths: this.paths,
        workloads: () => this.workloads(),
        executor: async () => {
          const { AttachmentExecutor } = await import('./services/attachments/attach-exec');
          return new AttachmentExecutor({ ...(await this.planDeps()), store: this.store });
        },
        nicDrivers: () => this.vmNicDrivers(),
        accelerators: () => this.accelerators(),
        dhcp: () => this.guestDhcp(),
        warn: this.opts.warn,
      });
    })();
    return this.vmServicePromise;
  }

  async vmNicDrivers(): Promise<VmNicDriverSet> {
    const registry = await this.registry();
    const s = await registry.select<VmNicDriver>('vm-nic');
    const all = registry.candidates<VmNicDriver>('vm-nic');
    // A bridge that is not a Linux bridge plugs the TAPs in itself (capability tap-ports, services/vm/tap-ports.ts).
    const { tapPortsOf, tapsOnBridgePorts } = await import('./services/vm/tap-ports');
    const ports = tapPortsOf(await registry.select<BridgeDriver>('bridge').then((b) => b.active, () => undefined));
    if (!ports) return { active: s.active, all, why: s.why };
    const wrapped = all.map((d) => tapsOnBridgePorts(d, ports, this.opts.warn));
    return { active: s.active && wrapped.find((d) => d.name === s.active!.name), all: wrapped, why: s.why, bridgeOf: (ifname) => ports.tapBridge(ifname) };
  }

  /** The active guest DHCP service (registry: drivers.guest-dhcp, else the one that goes with the active bridge driver). */
  guestDhcp(): Promise<GuestDhcp> {
    this.dhcpPromise ??= (async () => {
      const s = await (await this.registry()).select<GuestDhcp>('guest-dhcp');
      if (s.active) return s.active;
      const { DriverError } = await import('@volt/sdk');
      throw new DriverError(`serve DHCP to VM guests: no DHCP service is available (${s.why})`, {
        code: 'E_NO_DHCP',
        suggestions: ['install dnsmasq (apt-get install dnsmasq-base)', 'run `volt driver list` to see the guest-dhcp drivers and why each is unavailable'],
      });
    })();
    return this.dhcpPromise;
  }

  /**
   * The VM NIC accelerator (registry: drivers.vm-nic-accel, else detection): the active one, or
   * when none is available the candidates, whose probe then says why NICs run without it.
   */
  private async accelerators(): Promise<VmNicAccelerator[]> {
    const registry = await this.registry();
    const s = await registry.select<VmNicAccelerator>('vm-nic-accel');
    return s.active ? [s.active] : registry.candidates<VmNicAccelerator>('vm-nic-accel');
  }
}

