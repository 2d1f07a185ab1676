import type { ListedChain, ListedSet, ListedTable } from './nft-json';
import { ruleNameOf } from './overlay';
import {
  BASE_CHAIN,
  FAMILY,
  PORTS6_SET,
  SET_NAME,
  TABLE,
  elementText,
  type ChainModel,
  type ElementModel,
  type SetModel,
  type TableModel,
} from './ruleset';

/**
 * Differences between the table volt would generate and the one the kernel
 * lists, one sentence each; [] when they agree. Pure, for unit tests.
 */
export function describeDrift(
  want: TableModel,
  have: ListedTable | undefined,
  table: { family: string; name: string; missing: string } = { family: FAMILY, name: TABLE, missing: 'the firewall is not set up' },
): string[] {
  const t = `${table.family} ${table.name}`;
  if (!have) return [`nftables table ${t} is missing: ${table.missing}`];
  const inet = table.family === FAMILY && table.name === TABLE;
  const out: string[] = [];
  const chains = new Map(have.chains.map((c) => [c.name, c]));
  const sets = new Map(have.sets.map((s) => [s.name, s]));

  for (const c of want.chains) {
    const listed = chains.get(c.name);
    chains.delete(c.name);
    out.push(...chainDrift(c, listed, inet ? '' : ` of table ${t}`));
  }
  for (const c of chains.values()) {
    const owner = inet ? /^net-(.+)-(?:in|out)$/.exec(c.name) : null;
    if (owner) out.push(`chain "${c.name}" belongs to network "${owner[1]}", which volt does not manage (left over?)`);
    else if (inet && /^fw[if]-\d+$/.test(c.name)) out.push(`chain "${c.name}" holds user firewall rules that desired state no longer has (left over?)`);
    else out.push(`chain "${c.name}" in table ${t} was not created by volt`);
  }

  for (const s of want.sets) {
    const listed = sets.get(s.name);
    sets.delete(s.name);
    out.push(...setDrift(s, listed, want));
  }
  for (const s of sets.values()) out.push(`${s.kind} "${s.name}" in table ${t} was not created by volt`);
  return out;
}

function describeHook(h: { type: string; hook: string; prio: number; policy: string }): string {
  return `type ${h.type} hook ${h.hook} priority ${h.prio} policy ${h.policy}`;
}

function chainLabel(c: ChainModel, where: string): string {
  if (c.network !== undefined) return `network "${c.network}": chain "${c.name}"`;
  return c.hook ? `base chain "${c.name}"${where}` : `chain "${c.name}"${where}`;
}

function chainDrift(want: ChainModel, have: ListedChain | undefined, where = ''): string[] {
  const label = chainLabel(want, where);
  if (!have) return [`${label} is missing`];
  const out: string[] = [];
  if (want.hook) {
    const w = describeHook(want.hook);
    const h = have.hook ? describeHook(have.hook) : 'a regular chain';
    if (w !== h) out.push(`${label} is ${h}, expected ${w}`);
  } else if (have.hook) {
    out.push(`${label} is hooked (${describeHook(have.hook)}), expected a regular chain`);
  }
  const rules = ruleDiff(want.rules, have.rules);
  if (rules) out.push(`${label} differs from what volt generates: ${rules}`);
  return out;
}

const SHOWN = 3;

/** Rules in single quotes (they contain double quotes), at most SHOWN of them. */
function quoted(texts: readonly string[]): string {
  const shown = texts.slice(0, SHOWN).map((t) => `'${t}'`).join(', ');
  return texts.length > SHOWN ? `${shown} and ${texts.length - SHOWN} more` : shown;
}

/** "missing ...; unexpected ..." or "rules are out of order", or undefined when equal. */
export function ruleDiff(want: readonly string[], have: readonly string[]): string | undefined {
  if (want.length === have.length && want.every((r, i) => r === have[i])) return undefined;
  const left = [...have];
  const missing: string[] = [];
  for (const r of want) {
    const i = left.indexOf(r);
    if (i >= 0) left.splice(i, 1);
    else missing.push(r);
  }
  const parts: string[] = [];
  if (missing.length > 0) parts.push(`missing rule${missing.length > 1 ? 's' : ''} ${quoted(missing)}`);
  if (left.length > 0) parts.push(`unexpected rule${left.length > 1 ? 's' : ''} ${quoted(left)}`);
  if (parts.length === 0) parts.push('rules are out of order');
  return parts.join('; ');
}

function setDrift(want: SetModel, have: ListedSet | undefined, table: TableModel): string[] {
  if (!have) return [`${want.kind} "${want.name}" is missing`];
  const wantType = want.map ? `${want.type} : ${want.map}` : want.type;
  const haveType = have.map ? `${have.type} : ${have.map}` : have.type;
  if (have.kind !== want.kind || wantType !== haveType || have.flags.join(',') !== want.flags.join(',')) {
    return [
      `${have.kind} "${want.name}" has type ${haveType}${flagText(have.flags)}, expected a ${want.kind} of type ${wantType}${flagText(want.flags)}`,
    ];
  }
  const out: string[] = [];
  const present = new Set(have.elements);
  const presentKeys = new Map(have.elements.map((e) => [e.split(' : ')[0] as string, e]));
  const expected = table.elements.filter((e) => e.set === want.name);
  const expectedTexts = new Set(expected.map(elementText));
  const expectedKeys = new Set(expected.map((e) => e.key));
  for (const e of expected) {
    if (present.has(elementText(e))) continue;
    out.push(missingElement(e, presentKeys.get(e.key)));
  }
  const absent = table.absent.filter((a) => a.set === want.name);
  for (const e of absent) {
    if (presentKeys.has(e.key)) out.push(forbiddenElement(e));
  }
  const forbidden = new Set(absent.map((a) => a.key));
  for (const text of have.elements) {
    const key = text.split(' : ')[0] as string;
    if (expectedTexts.has(text) || forbidden.has(key)) continue;
    if (expectedKeys.has(key)) continue; // reported above as a wrong value
    out.push(
      want.name === PORTS6_SET
        ? `set ${want.name} holds ${text}: IPv6 is open on that port, but no workload of a dual-stack network has it (left over?)`
        : want.owner === 'rules'
        ? `${want.kind} ${want.name} holds ${text}, which no firewall rule, port forward or policy in desired state produces (left over?)`
        : `${want.kind} ${want.name} holds ${text}, which belongs to no network volt manages (left over?)`,
    );
  }
  // A flushed set of thousands of elements is one problem, not thousands of lines.
  const MAX = 20;
  return out.length > MAX ? [...out.slice(0, MAX), `${want.kind} ${want.name}: ${out.length - MAX} more differences`] : out;
}

function flagText(flags: readonly string[]): string {
  return flags.length > 0 ? ` (flags ${flags.join(',')})` : '';
}

function ownerLabel(e: ElementModel): string {
  if (e.label !== undefined) return `${e.label}: `;
  return e.network === undefined ? '' : `network "${e.network}": `;
}

function missingElement(e: ElementModel, current: string | undefined): string {
  const who = ownerLabel(e);
  if (e.label !== undefined) {
    if (current !== undefined) return `${who}${e.set} maps ${current}, expected ${elementText(e)}`;
    return `${who}${e.set} lacks ${elementText(e)}`;
  }
  if (current !== undefined) return `${who}${e.set} maps ${current}, expected ${elementText(e)}`;
  switch (e.set) {
    case SET_NAME.natSubnets:
    case SET_NAME.natSubnets6:
      return `${who}masquerade is missing: ${e.key} is not in set ${e.set}`;
    case SET_NAME.bridges6:
      return `${who}bridge ${e.key} is missing from set ${e.set}, so IPv6 does not pass this dual-stack network`;
    case SET_NAME.bridges:
      return `${who}bridge ${e.key} is missing from set ${e.set}, so ${BASE_CHAIN.forward} does not isolate it`;
    default:
      return `${who}map ${e.set} has no entry ${elementText(e)}`;
  }
}

function forbiddenElement(e: ElementModel): string {
  const who = ownerLabel(e);
  if (e.set === SET_NAME.natSubnets) return `${who}masquerade is set up (${e.key} is in set ${e.set}) but the network has NAT disabled`;
  if (e.set === SET_NAME.natSubnets6) return `${who}NAT66 is set up (${e.key} is in set ${e.set}) but the network's IPv6 is routed or has NAT disabled`;
  if (e.set === SET_NAME.bridges6) return `${who}IPv6 is open (${e.key} is in set ${e.set}) but the network is IPv4-only`;
  return `${who}${e.set} holds ${e.key}, which it should not`;
}

/** An nft object volt made that no state record owns (`volt net check` finding orphan-nft). */
export interface Orphan {
  object: string;
  detail: string;
  /**
   * nft statements that remove it (network chains and elements of the network sets); absent for
   * overlay objects, which setupBase with the desired rules replaces anyway.
   */
  remove?: string[];
}

/** "tcp . 8080" → "port forward 8080/tcp"; "10.0.0.1 . udp . 53" → "port forward 10.0.0.1:53/udp". */
function forwardObject(set: string, key: string): string | undefined {
  const parts = key.split(' . ');
  if ((set === 'pf_port' || set === 'pf_port6') && parts.length === 2) return `port forward ${parts[1]}/${parts[0]}`;
  if (set === 'pf_addr' && parts.length === 3) return `port forward ${parts[0]}:${parts[2]}/${parts[1]}`;
  if (set === 'pf_addr6' && parts.length === 3) return `port forward [${parts[0]}]:${parts[2]}/${parts[1]}`;
  return undefined;
}

/**
 * What the kernel's table holds that volt made (recognisable without state: the table is volt's,
 * user rules carry `comment "volt:NAME"`, forwards are elements of pf_port / pf_addr, networks
 * own the chains net-NAME-in/out) but that no record in `want` produces: one finding per
 * object (a forward, a rule, a network's chains, a workload's address set). Pure.
 */
export function describeOrphans(want: TableModel, have: ListedTable | undefined): Orphan[] {
  if (!have) return [];
  const out = new Map<string, Orphan>();
  const add = (object: string, detail: string, remove?: string[]): void => {
    const o = out.get(object);
    if (!o) out.set(object, { object, detail, ...(remove ? { remove } : {}) });
    else if (remove) o.remove = [...(o.remove ?? []), ...remove];
  };
  const T = `${FAMILY} ${TABLE}`;
  // Chains go after the elements that jump to them (nft refuses to delete a chain still referenced).
  const late: string[] = [];
  const chains = new Map(want.chains.map((c) => [c.name, c]));
  const ruleNames = new Set(want.chains.flatMap((c) => c.rules.map(ruleNameOf).filter((n): n is string => n !== undefined)));
  for (const c of have.chains) {
    const net = /^net-(.+)-(?:in|out)$/.exec(c.name);
    if (!chains.has(c.name) && net) {
      add(`network chains net-${net[1]}-in/out`, `chain "${c.name}" in table ${FAMILY} ${TABLE} is network "${net[1]}"'s, and no network of that name is in state`);
      late.push(`flush chain ${T} ${c.name}`, `delete chain ${T} ${c.name}`);
      continue;
    }
    for (const r of c.rules) {
      const name = ruleNameOf(r);
      if (name === undefined || ruleNames.has(name)) continue;
      add(`firewall rule "${name}"`, `chain "${c.name}" holds '${r}': volt's rule "${name}", and no firewall rule of that name is in state`);
    }
  }
  const sets = new Map(want.sets.map((s) => [s.name, s]));
  for (const s of have.sets) {
    const w = sets.get(s.name);
    if (!w) {
      if (/^wl6?-/.test(s.name)) add(`set ${s.name}`, `set "${s.name}" (a workload's addresses for firewall rules) that no rule in state refers to`);
      continue;
    }
    const keys = new Set([...want.elements, ...want.absent].filter((e) => e.set === s.name).map((e) => e.key));
    for (const text of s.elements) {
      const key = text.split(' : ')[0] as string;
      if (keys.has(key)) continue;
      const fwd = forwardObject(s.name, key);
      if (fwd !== undefined) add(fwd, `${s.kind} ${s.name} holds ${text}: a port forward volt made, and no forward of host port ${fwd.slice('port forward '.length)} is in state`);
      else if (w.owner === 'rules') add(`${s.name} element ${key}`, `${s.kind} ${s.name} holds ${text}, which no firewall rule, port forward or policy in state produces`);
      else add(`${s.name} element ${key}`, `${s.kind} ${s.name} holds ${text}, which belongs to no network in state`, [`delete element ${T} ${s.name} { ${key} }`]);
    }
  }
  const list = [...out.values()];
  const first = list.find((o) => o.object.startsWith('network chains '));
  if (first && late.length > 0) first.remove = [...(first.remove ?? []), ...late];
  return list;
}
