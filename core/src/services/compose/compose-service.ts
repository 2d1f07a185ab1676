import { createHash } from 'node:crypto';
import { ConflictError, NotFoundError, UserInputError } from '@volt/sdk';
import type { StateStore } from '../../state/store';
import type { NetworkRecord, VoltState } from '../../state/types';
import { listRoutes4 } from '@volt/sdk/kernel';
import { formatCidr, formatIPv4, overlaps, parseCidr, parseIPv4, type Cidr } from '../../net/ipv4';
import { pendingNetworks } from '../../state/journal';
import { NETWORK_LABEL, PROJECT_LABEL, type ComposeNetwork, type ComposeProject, type ComposeService as ComposeServiceSpec } from './compose-file';
import { IFNAMSIZ_MAX, planNetwork, type CreateNetworkRequest } from '../network/network-plan';
import type { NetworkService } from '../network/network-service';
import type { WorkloadService } from '../attachments/workload-service';

export interface ComposeDeps {
  store: StateStore;
  defaultMtu: number;
  defaultNetwork: string;
  networks(): Promise<NetworkService>;
  workloads(): Promise<WorkloadService>;
}

export interface ComposeAttachmentView {
  service: string;
  network: string;
  /** The container the service maps to; undefined: none found. */
  container?: string;
  ip?: string;
  aliases: string[];
}

export interface ComposeNetworkView {
  key: string;
  name: string;
  external: boolean;
  exists: boolean;
  subnet?: string;
  bridge?: string;
  mtu?: number;
  internal?: boolean;
}

export interface ComposeReport {
  project: string;
  /** One sentence per change; empty: nothing to do. */
  changes: string[];
  /** Services without a container, and similar things that are not errors. */
  notes: string[];
}

/** The bridge of a Compose network: volt-NAME when it fits in 15 characters, else vc- and a hash of the name. */
export function composeBridgeName(name: string): string {
  const plain = `volt-${name}`;
  if (plain.length <= IFNAMSIZ_MAX) return plain;
  return `vc-${createHash('sha256').update(name).digest('hex').slice(0, IFNAMSIZ_MAX - 3)}`;
}

/** The workload names a service's container may have, in the order they are looked up. */
export function containerCandidates(project: string, s: ComposeServiceSpec): string[] {
  const c = [s.containerName, s.name, `${project}-${s.name}-1`, `${project}_${s.name}_1`].filter((x): x is string => x !== undefined);
  return [...new Set(c)];
}

function createRequest(p: ComposeProject, n: ComposeNetwork): CreateNetworkRequest {
  return {
    name: n.name,
    subnet: n.subnet!,
    ...(n.subnet6 !== undefined ? { subnet6: n.subnet6 } : {}),
    gateway: n.gateway,
    mtu: n.mtu,
    nat: !n.internal,
    bridge: composeBridgeName(n.name),
    containerRange: n.containerRange,
    labels: { ...n.labels, [PROJECT_LABEL]: p.project, [NETWORK_LABEL]: n.key },
  };
}

function ownedBy(n: NetworkRecord, project: string): boolean {
  return n.labels?.[PROJECT_LABEL] === project;
}

/** What differs between an existing network and the file ("subnet 10.20.0.0/24 → 10.21.0.0/24"). */
function settingChanges(have: NetworkRecord, want: NetworkRecord): string[] {
  const out: string[] = [];
  if (have.subnet !== want.subnet) out.push(`subnet ${have.subnet} → ${want.subnet}`);
  if (have.gateway !== want.gateway) out.push(`gateway ${have.gateway} → ${want.gateway}`);
  if ((have.subnet6 ?? '') !== (want.subnet6 ?? '')) out.push(`IPv6 subnet ${have.subnet6 ?? 'none'} → ${want.subnet6 ?? 'none'}`);
  if (have.mtu !== want.mtu) out.push(`MTU ${have.mtu} → ${want.mtu}`);
  if (have.nat !== want.nat) out.push(want.nat ? 'internal → not internal' : 'not internal → internal');
  if ((have.containerRange ?? '') !== (want.containerRange ?? '')) out.push(`ip_range ${have.containerRange ?? 'default'} → ${want.containerRange ?? 'default'}`);
  return out;
}

function sameLabels(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  return JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b ?? {}).sort());
}

interface Connect {
  service: string;
  workload: string;
  network: string;
  ip?: string;
  aliases: string[];
  /** Already attached: only the aliases may need setting. */
  attached: boolean;
}

/** Where the default network's subnet is picked from when the file gives none: 172.20.0.0/24 … 172.23.255.0/24. */
export const DEFAULT_SUBNET_POOL = { first: '172.20.0.0', count: 1024, prefix: 24 } as const;

/**
 * The project with a subnet for every network that has none (the default
 * network): the one the project's network already has, else the first /24 of
 * DEFAULT_SUBNET_POOL that overlaps no volt network (pending ones included),
 * no other network of the file and no host route.
 */
async function withSubnets(p: ComposeProject, state: VoltState): Promise<ComposeProject> {
  if (!p.networks.some((n) => n.autoSubnet && n.subnet === undefined)) return p;
  const routes = (await listRoutes4()).filter((r) => r.dst !== 'default');
  const ownBridges = new Set(Object.values(state.networks).map((n) => n.bridge));
  const used: Cidr[] = [];
  for (const n of [...Object.values(state.networks), ...pendingNetworks(state)]) {
    const c = parseCidr(n.subnet);
    if (c) used.push(c);
  }
  for (const n of p.networks) {
    const c = n.subnet === undefined ? undefined : parseCidr(n.subnet);
    if (c) used.push(c);
  }
  for (const r of routes) {
    if (r.dev && ownBridges.has(r.dev)) continue;
    const c = parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
    if (c && c.prefix > 0) used.push(c);
  }
  const networks = p.networks.map((n) => {
    if (!n.autoSubnet || n.subnet !== undefined) return n;
    const have = state.networks[n.name];
    if (have && ownedBy(have, p.project)) return { ...n, subnet: have.subnet };
    const base = parseIPv4(DEFAULT_SUBNET_POOL.first)!;
    const size = 2 ** (32 - DEFAULT_SUBNET_POOL.prefix);
    for (let i = 0; i < DEFAULT_SUBNET_POOL.count; i++) {
      const cand: Cidr = parseCidr(`${formatIPv4(base + i * size)}/${DEFAULT_SUBNET_POOL.prefix}`)!;
      if (used.some((u) => overlaps(u, cand))) continue;
      used.push(cand);
      return { ...n, subnet: formatCidr(base + i * size, DEFAULT_SUBNET_POOL.prefix) };
    }
    throw new ConflictError(`${n.at}: networks.${n.key}: no free /24 left in 172.20.0.0/14 for network "${n.name}"`, {
      code: 'E_SUBNET_EXHAUSTED',
      suggestions: [`give it one: networks: {${n.key}: {subnet: CIDR}}`],
    });
  });
  return { ...p, networks };
}

/** `volt net compose up | down | ps`: a Compose file's networks as volt networks. */
export class ComposeService {
  constructor(private readonly d: ComposeDeps) {}

  /** The container of a service, or undefined. */
  private async findContainer(state: VoltState, p: ComposeProject, s: ComposeServiceSpec): Promise<string | undefined> {
    const w = await this.d.workloads();
    for (const name of containerCandidates(p.project, s)) {
      try {
        const r = await w.resolve(state, name, 'compose');
        if (r.type === 'container' || r.type === 'vm') return r.name;
      } catch (e: unknown) {
        if (!(e instanceof NotFoundError) && !(e instanceof UserInputError)) throw e;
      }
    }
    return undefined;
  }

  async up(file: ComposeProject): Promise<ComposeReport> {
    const report: ComposeReport = { project: file.project, changes: [], notes: [] };
    const state = this.d.store.read();
    const now = new Date().toISOString();
    const p = await withSubnets(file, state);

    // 1. Plan networks against the current state, before anything changes.
    const toCreate: CreateNetworkRequest[] = [];
    const toRecreate: string[] = [];
    const relabel: { name: string; labels: Record<string, string> }[] = [];
    for (const n of p.networks) {
      const have = state.networks[n.name];
      if (n.external) {
        if (!have) {
          throw new NotFoundError(`${n.at}: networks.${n.key}: external network "${n.name}" does not exist`, {
            code: 'E_COMPOSE_EXTERNAL_MISSING',
            suggestions: [`create it first (volt net create --name ${n.name} --subnet CIDR)`, `known networks: ${Object.keys(state.networks).join(', ') || 'none'}`],
          });
        }
        continue;
      }
      const req = createRequest(p, n);
      if (!have) {
        toCreate.push(req);
        continue;
      }
      if (!ownedBy(have, p.project)) {
        throw new ConflictError(`${n.at}: networks.${n.key}: network "${n.name}" already exists and was not created by project "${p.project}"`, {
          code: 'E_COMPOSE_NETWORK_FOREIGN',
          suggestions: ['mark it `external: true` to use it as it is', 'or choose another project name with -p'],
        });
      }
      const others = Object.values(state.networks).filter((x) => x.name !== n.name);
      const want = planNetwork(req, { existing: others, hostRoutes: [], defaultMtu: this.d.defaultMtu, defaultName: this.d.defaultNetwork, now });
      const diff = settingChanges(have, want);
      if (diff.length > 0) {
        const attached = state.attachments.filter((a) => a.network === n.name).map((a) => a.workload);
        if (attached.length > 0) {
          throw new ConflictError(`${n.at}: networks.${n.key}: network "${n.name}" changed (${diff.join(', ')}) but ${attached.join(', ')} ${attached.length === 1 ? 'is' : 'are'} attached`, {
            code: 'E_COMPOSE_NETWORK_IN_USE',
            suggestions: [`run \`volt net compose down -f ${p.file} --force\` first`, `or detach them (volt net disconnect WORKLOAD ${n.name}) and run up again`],
          });
        }
        toRecreate.push(n.name);
        toCreate.push(req);
        report.changes.push(`recreate network ${n.name} (${diff.join(', ')})`);
      } else if (!sameLabels(have.labels, want.labels)) {
        relabel.push({ name: n.name, labels: want.labels ?? {} });
      }
    }
    // Validate what will be created as a whole (overlaps with each other, other networks and host routes).
    if (toCreate.length > 0) {
      const routes = await listRoutes4();
      const existing = Object.values(state.networks).filter((x) => !toRecreate.includes(x.name));
      const planned: NetworkRecord[] = [];
      for (const req of toCreate) {
        const n = p.networks.find((x) => x.name === req.name)!;
        try {
          planned.push(planNetwork(req, { existing: [...existing, ...planned], hostRoutes: routes, defaultMtu: this.d.defaultMtu, defaultName: this.d.defaultNetwork, now }));
        } catch (e: unknown) {
          if (e instanceof Error) e.message = `${n.at}: networks.${n.key}: ${e.message}`;
          throw e;
        }
      }
    }

    // 2. Plan connections: which services have containers, what is already attached.
    const connects: Connect[] = [];
    for (const s of p.services) {
      if (s.networks.length === 0) continue;
      const container = await this.findContainer(state, p, s);
      if (container === undefined) {
        report.notes.push(`service ${s.name}: no container found (looked for ${containerCandidates(p.project, s).join(', ')}); not connected`);
        continue;
      }
      for (const sn of s.networks) {
        const net = p.networks.find((x) => x.key === sn.key)!;
        const aliases = [...new Set([s.name, ...sn.aliases])].filter((a) => a !== container);
        const a = state.attachments.find((x) => x.workload === container && x.network === net.name);
        if (a && sn.ipv4Address !== undefined && a.ip !== sn.ipv4Address && !toRecreate.includes(net.name)) {
          throw new ConflictError(`${sn.at}: services.${s.name}.networks.${sn.key}: ${container} is connected to ${net.name} with ${a.ip}, not ${sn.ipv4Address}`, {
            code: 'E_COMPOSE_ADDRESS_CHANGED',
            suggestions: [`disconnect it first (volt net disconnect ${container} ${net.name}) and run up again`],
          });
        }
        const taken = state.attachments.find((x) => x.network === net.name && x.ip === sn.ipv4Address && x.workload !== container);
        if (sn.ipv4Address !== undefined && taken && !toRecreate.includes(net.name)) {
          throw new ConflictError(`${sn.at}: services.${s.name}.networks.${sn.key}: ${sn.ipv4Address} is already used by ${taken.workload} on ${net.name}`, {
            code: 'E_ADDRESS_IN_USE',
            suggestions: ['choose another ipv4_address, or leave it out for the next free one'],
          });
        }
        connects.push({ service: s.name, workload: container, network: net.name, ip: sn.ipv4Address, aliases, attached: a !== undefined });
      }
    }

    // 3. Apply: networks (one transaction), then connections, then aliases.
    const networks = await this.d.networks();
    for (const name of toRecreate) await networks.delete(name, false);
    if (toCreate.length > 0) {
      const created = await networks.createMany(toCreate);
      for (const n of created) if (!toRecreate.includes(n.name)) report.changes.push(`create network ${n.name} (${n.subnet}, bridge ${n.bridge}, MTU ${n.mtu}${n.nat ? '' : ', internal'})`);
    }
    if (relabel.length > 0) {
      await this.d.store.transaction(async (st) => {
        for (const r of relabel) if (st.networks[r.name]) st.networks[r.name]!.labels = r.labels;
      });
      for (const r of relabel) report.changes.push(`update labels of network ${r.name}`);
    }
    // Each network's containers in one batch (one transaction, one journaled connect-batch, the
    // firewall and DNS updates once); VMs one by one (a batch takes containers only).
    const workloads = await this.d.workloads();
    const byNetwork = new Map<string, Connect[]>();
    for (const c of connects) {
      if (c.attached && !toRecreate.includes(c.network)) continue;
      byNetwork.set(c.network, [...(byNetwork.get(c.network) ?? []), c]);
    }
    for (const [network, cs] of byNetwork) {
      const now = this.d.store.read();
      const vms = cs.filter((c) => now.workloads[c.workload]?.type === 'vm');
      const containers = cs.filter((c) => !vms.includes(c));
      for (const c of vms) {
        const { attachment } = await workloads.connect({ network, workload: c.workload, ip: c.ip });
        report.changes.push(`connect ${c.workload} (service ${c.service}) to ${network}: ${attachment.ip}`);
      }
      if (containers.length === 0) continue;
      const { attachments } = await workloads.connectMany(network, containers.map((c) => ({ workload: c.workload, ...(c.ip !== undefined ? { ip: c.ip } : {}) })));
      for (const [i, c] of containers.entries()) report.changes.push(`connect ${c.workload} (service ${c.service}) to ${network}: ${attachments[i]!.ip}`);
    }
    const aliasChanges = await this.d.store.transaction(async (st) => {
      const out: string[] = [];
      for (const c of connects) {
        const a = st.attachments.find((x) => x.workload === c.workload && x.network === c.network);
        if (!a) continue;
        const want = c.aliases.slice().sort();
        if (JSON.stringify((a.aliases ?? []).slice().sort()) === JSON.stringify(want)) continue;
        if (want.length > 0) a.aliases = want;
        else delete a.aliases;
        out.push(`names of ${c.workload} on ${c.network}: ${want.join(', ') || '(none)'}`);
      }
      return out;
    });
    report.changes.push(...aliasChanges);
    return report;
  }

  async down(p: ComposeProject, force: boolean): Promise<ComposeReport> {
    const report: ComposeReport = { project: p.project, changes: [], notes: [] };
    const state = this.d.store.read();
    const mine = Object.values(state.networks).filter((n) => ownedBy(n, p.project));
    const attached = state.attachments.filter((a) => mine.some((n) => n.name === a.network));
    if (attached.length > 0 && !force) {
      const list = attached.map((a) => `${a.workload} on ${a.network}`);
      throw new ConflictError(`compose down: ${attached.length} workload attachment${attached.length === 1 ? ' is' : 's are'} still on project "${p.project}"'s networks (${list.slice(0, 5).join(', ')}${list.length > 5 ? ', …' : ''})`, {
        code: 'E_NETWORK_IN_USE',
        suggestions: ['disconnect them first (volt net disconnect WORKLOAD NETWORK)', 'or pass --force to disconnect them and remove the networks'],
      });
    }
    const workloads = await this.d.workloads();
    for (const a of attached) {
      await workloads.disconnect(a.workload, a.network);
      report.changes.push(`disconnect ${a.workload} from ${a.network}`);
    }
    const networks = await this.d.networks();
    for (const n of mine) {
      await networks.delete(n.name, force);
      report.changes.push(`delete network ${n.name}`);
    }
    return report;
  }

  async ps(p: ComposeProject): Promise<{ project: string; networks: ComposeNetworkView[]; services: ComposeAttachmentView[] }> {
    const state = this.d.store.read();
    const networks: ComposeNetworkView[] = p.networks.map((n) => {
      const r = state.networks[n.name];
      return { key: n.key, name: n.name, external: n.external, exists: r !== undefined, subnet: r?.subnet, bridge: r?.bridge, mtu: r?.mtu, internal: r === undefined ? n.internal : !r.nat };
    });
    // Networks the project created that the file no longer names.
    for (const r of Object.values(state.networks)) {
      if (ownedBy(r, p.project) && !networks.some((n) => n.name === r.name)) {
        networks.push({ key: r.labels?.[NETWORK_LABEL] ?? r.name, name: r.name, external: false, exists: true, subnet: r.subnet, bridge: r.bridge, mtu: r.mtu, internal: !r.nat });
      }
    }
    const services: ComposeAttachmentView[] = [];
    for (const s of p.services) {
      const names = containerCandidates(p.project, s);
      const found = s.networks.length > 0 ? await this.findContainer(state, p, s) : undefined;
      for (const sn of s.networks) {
        const net = p.networks.find((x) => x.key === sn.key)!;
        const a = state.attachments.find((x) => x.network === net.name && names.includes(x.workload));
        const container = a?.workload ?? found;
        services.push({ service: s.name, network: net.name, container, ip: a?.ip, aliases: a?.aliases ?? [] });
      }
    }
    return { project: p.project, networks, services };
  }
}
