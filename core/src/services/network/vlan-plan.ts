import type { VlanObservation, VlanSpec } from '@volt/sdk';
import { ConflictError, NotFoundError, UserInputError } from '@volt/sdk';
import { isIfname, type HostLink } from '@volt/sdk/kernel';
import type { VlanRecord, VoltState } from '../../state/types';

/** `volt net vlan create` as given on the command line (strings: parsed here, once). */
export interface CreateVlanRequest {
  parent: string;
  id: string | number;
  name?: string;
  network?: string;
}

export interface VlanPlanContext {
  state: VoltState;
  /** Every link of the host namespace (listVlanLinks). */
  links: readonly HostLink[];
  now: string;
}


/**
 * Validate a create request against state and the kernel, and return the record to
 * add. Pure; throws the first problem: input errors (2) before missing things (3)
 * before conflicts (4), so a typo is reported as a typo.
 */
export function planVlan(req: CreateVlanRequest, ctx: VlanPlanContext): VlanRecord {
  const what = 'create VLAN';
  const id = parseVlanId(what, req.id);
  const parent = checkIfname(what, 'parent', req.parent, 'E_VLAN_PARENT_INVALID');
  const name = req.name ?? `${parent}.${id}`;
  if (req.name === undefined && name.length > 15) {
    throw new UserInputError(`${what}: the default name "${name}" is longer than the kernel's 15 characters`, {
      code: 'E_VLAN_NAME',
      suggestions: [`give it a shorter one: --name ${parent.slice(0, 14 - String(id).length)}.${id}`],
    });
  }
  checkIfname(what, 'name', name, 'E_VLAN_NAME');
  const w = `create VLAN "${name}"`;
  const { state, links } = ctx;

  if (req.network !== undefined && !state.networks[req.network]) {
    const known = Object.keys(state.networks);
    throw new NotFoundError(`${w}: network "${req.network}" does not exist`, {
      code: 'E_NETWORK_NOT_FOUND',
      suggestions: [known.length > 0 ? `known networks: ${known.join(', ')}` : 'create one with `volt net create --name NAME --subnet CIDR`'],
    });
  }
  const byName = new Map(links.map((l) => [l.ifname, l]));
  const p = byName.get(parent);
  if (!p) {
    throw new NotFoundError(`${w}: parent interface "${parent}" does not exist`, {
      code: 'E_VLAN_PARENT_NOT_FOUND',
      suggestions: ['list the host links with `ip link show`'],
    });
  }
  const refusal = parentRefusal(p, state);
  if (refusal) {
    throw new UserInputError(`${w}: parent ${parent} ${refusal}; a VLAN goes on a host link (a physical NIC, a bond, a veth to a switch)`, {
      code: 'E_VLAN_PARENT_INVALID',
      suggestions: ['list candidate links with `ip -br link show`', 'to make a VLAN the uplink of a network, pass --network NET (the VLAN becomes a port of its bridge)'],
    });
  }

  if (state.vlans[name]) {
    throw new ConflictError(`${w}: a VLAN with that name already exists (id ${state.vlans[name]!.id} on ${state.vlans[name]!.parent})`, {
      code: 'E_VLAN_EXISTS',
      suggestions: ['see them with `volt net vlan list`', 'choose another --name'],
    });
  }
  const twin = Object.values(state.vlans).find((v) => v.parent === parent && v.id === id);
  if (twin) {
    throw new ConflictError(`${w}: VLAN ${id} on ${parent} already exists as "${twin.name}"`, {
      code: 'E_VLAN_DUPLICATE',
      suggestions: [twin.network ? `it is the uplink of network "${twin.network}"` : `attach it instead: volt net vlan attach ${twin.name} NETWORK`],
    });
  }
  const bridgeOwner = Object.values(state.networks).find((n) => n.bridge === name);
  if (bridgeOwner || byName.has(name)) {
    throw new ConflictError(`${w}: interface "${name}" already exists${bridgeOwner ? ` (the bridge of network "${bridgeOwner.name}")` : ' in the kernel and is not volt\'s'}`, {
      code: 'E_LINK_EXISTS',
      suggestions: ['choose another --name', `see what it is: ip -d link show ${name}`],
    });
  }
  const kernelTwin = links.find((l) => l.kind === 'vlan' && l.parent === parent && l.id === id);
  if (kernelTwin) {
    throw new ConflictError(`${w}: the kernel already has VLAN ${id} on ${parent} ("${kernelTwin.ifname}", not volt's)`, {
      code: 'E_VLAN_DUPLICATE',
      suggestions: [`remove it (ip link del ${kernelTwin.ifname}) or leave that VLAN to whoever made it`],
    });
  }
  if (req.network !== undefined) assertNoUplink(w, req.network, state);
  return { name, parent, id, ...(req.network === undefined ? {} : { network: req.network }), createdAt: ctx.now };
}

/** One VLAN uplink per network: two would join two L2 segments through the bridge (a loop without STP). */
export function assertNoUplink(what: string, network: string, state: VoltState, except?: string): void {
  const other = Object.values(state.vlans).find((v) => v.network === network && v.name !== except);
  if (other) {
    throw new ConflictError(`${what}: network "${network}" already has the uplink "${other.name}" (VLAN ${other.id} on ${other.parent})`, {
      code: 'E_NETWORK_HAS_UPLINK',
      suggestions: [`detach it first: volt net vlan detach ${other.name}`],
    });
  }
}

export function parseVlanId(what: string, raw: string | number): number {
  const text = String(raw).trim();
  const id = /^[0-9]{1,4}$/.test(text) ? Number(text) : NaN;
  if (!(id >= 1 && id <= 4094)) {
    throw new UserInputError(`${what}: --id ${JSON.stringify(String(raw))} is not a VLAN id (an integer 1–4094; 0 and 4095 are reserved by 802.1Q)`, {
      code: 'E_VLAN_ID',
    });
  }
  return id;
}

function checkIfname(what: string, label: string, v: string, code: string): string {
  if (!isIfname(v)) {
    throw new UserInputError(`${what}: ${label} ${JSON.stringify(v)} is not a valid interface name (1–15 of A-Z a-z 0-9 _ . -)`, { code });
  }
  return v;
}

/** Why a link cannot carry a VLAN of volt's, or undefined when it can. */
function parentRefusal(p: HostLink, state: VoltState): string | undefined {
  if (p.linkType === 'loopback' || p.ifname === 'lo') return 'is the loopback device';
  const network = Object.values(state.networks).find((n) => n.bridge === p.ifname);
  if (network) return `is the bridge of network "${network.name}"`;
  if (p.kind === 'bridge') return 'is a bridge';
  if (p.kind === 'vlan') return `is itself a VLAN (id ${p.id ?? '?'} on ${p.parent ?? '?'}); volt does not stack VLANs`;
  if (p.master !== undefined) {
    const owner = Object.values(state.networks).find((n) => n.bridge === p.master);
    return owner ? `is a port of network "${owner.name}" (bridge ${p.master})` : `is a port of ${p.master}`;
  }
  if (state.attachments.some((a) => a.hostIfname === p.ifname)) return 'is the host end of a workload attachment';
  return undefined;
}

/** What the bridge driver gets for a VLAN record. */
export function vlanSpec(v: VlanRecord, state: VoltState): VlanSpec {
  const n = v.network === undefined ? undefined : state.networks[v.network];
  return { ifname: v.name, parent: v.parent, id: v.id, ...(n ? { bridge: n.bridge, network: n.name } : {}) };
}

export type VlanStatus = 'up' | 'down' | 'missing' | 'drift';

/** Differences between a VLAN record and the kernel, one sentence each. */
export function vlanDrift(v: VlanRecord, obs: VlanObservation, state: VoltState): string[] {
  const spec = vlanSpec(v, state);
  const label = `VLAN ${v.name} (id ${v.id} on ${v.parent})`;
  if (!obs.exists) return [`${label} is missing`];
  if (obs.kind !== 'vlan' || obs.parent !== v.parent || obs.id !== v.id) {
    const is = obs.kind === 'vlan' ? `VLAN ${obs.id ?? '?'} on ${obs.parent ?? '?'}` : `a ${obs.kind ?? 'plain'} link`;
    return [`interface ${v.name} is ${is}, not VLAN ${v.id} on ${v.parent}`];
  }
  const out: string[] = [];
  if (!obs.up) out.push(`${label} is down`);
  if (spec.bridge !== undefined && obs.master !== spec.bridge) {
    out.push(`${label} is not on bridge ${spec.bridge} (uplink of network "${v.network}")${obs.master ? `; it is on ${obs.master}` : ''}`);
  }
  if (spec.bridge === undefined && obs.master !== undefined) out.push(`${label} is on bridge ${obs.master} but belongs to no network`);
  return out;
}

export function vlanStatus(v: VlanRecord, obs: VlanObservation, state: VoltState): VlanStatus {
  if (!obs.exists) return 'missing';
  const drift = vlanDrift(v, obs, state);
  if (drift.length === 0) return 'up';
  return drift.length === 1 && !obs.up && obs.kind === 'vlan' ? 'down' : 'drift';
}
