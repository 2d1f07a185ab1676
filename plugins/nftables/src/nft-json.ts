/**
 * `nft -j list ...` output parsed once, at the edge, into typed values. Rules
 * and set elements are rendered back to `nft list` syntax so they compare with
 * the texts ruleset.ts generates. Anything this renderer does not know is
 * rendered as `?<json>`: it never matches a generated rule, so it shows up as
 * drift instead of being misread.
 */

export interface ListedHook {
  type: string;
  hook: string;
  prio: number;
  policy: string;
}

export interface ListedChain {
  name: string;
  hook?: ListedHook;
  rules: string[];
}

export interface ListedSet {
  kind: 'set' | 'map';
  name: string;
  type: string;
  map?: string;
  flags: string[];
  /** In `nft list` syntax: `"volt-a"`, `10.30.0.0/24`, `"volt-a" : jump net-a-out`. */
  elements: string[];
}

export interface ListedTable {
  family: string;
  name: string;
  /** In listing order. */
  chains: ListedChain[];
  sets: ListedSet[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function unknownText(v: unknown): string {
  return `?${JSON.stringify(v)}`;
}

/** The single key of a `{ "kind": body }` object, as nft's JSON uses everywhere. */
function tagged(v: unknown): [string, Json] | undefined {
  if (!isObject(v)) return undefined;
  const keys = Object.keys(v);
  if (keys.length !== 1) return undefined;
  const k = keys[0] as string;
  return [k, v[k] as Json];
}

// Meta keys nft prints without the `meta` prefix.
const BARE_META = new Set([
  'iif', 'iifname', 'iiftype', 'oif', 'oifname', 'oiftype', 'mark', 'skuid', 'skgid', 'nftrace',
  'rtclassid', 'ibrname', 'obrname', 'pkttype', 'cpu', 'iifgroup', 'oifgroup', 'cgroup',
]);
// Keys whose values are interface names, printed quoted.
const IFNAME_KEYS = new Set(['iif', 'iifname', 'oif', 'oifname', 'ibrname', 'obrname']);

interface Rendered {
  text: string;
  quoteStrings: boolean;
}

function renderLeft(v: unknown): Rendered {
  const t = tagged(v);
  if (t) {
    const [kind, body] = t;
    if (kind === 'concat' && Array.isArray(body)) {
      return { text: body.map((p) => renderLeft(p).text).join(' . '), quoteStrings: false };
    }
    if (kind === 'fib' && isObject(body) && typeof body.result === 'string') {
      const flags = Array.isArray(body.flags) ? body.flags.map((f) => String(f)) : [];
      return { text: ['fib', ...flags, body.result].join(' '), quoteStrings: false };
    }
    if (kind === 'meta' && isObject(body) && typeof body.key === 'string') {
      const key = body.key;
      return { text: BARE_META.has(key) ? key : `meta ${key}`, quoteStrings: IFNAME_KEYS.has(key) };
    }
    if (kind === 'ct' && isObject(body) && typeof body.key === 'string') {
      const dir = str(body.dir);
      const fam = str(body.family);
      return { text: ['ct', dir, fam, body.key].filter((p) => p !== undefined).join(' '), quoteStrings: false };
    }
    if (kind === 'payload' && isObject(body)) {
      const proto = str(body.protocol);
      const field = str(body.field);
      if (proto && field) return { text: `${proto} ${field}`, quoteStrings: false };
      if (typeof body.base === 'string' && typeof body.offset === 'number' && typeof body.len === 'number') {
        return { text: `@${body.base},${body.offset},${body.len}`, quoteStrings: false };
      }
    }
  }
  return { text: unknownText(v), quoteStrings: false };
}

function renderValue(v: unknown, quoteStrings: boolean): string {
  if (typeof v === 'string') return quoteStrings && !v.startsWith('@') ? JSON.stringify(v) : v;
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return v.map((x) => renderValue(x, quoteStrings)).join(',');
  const t = tagged(v);
  if (t) {
    const [kind, body] = t;
    if (kind === 'set' && Array.isArray(body)) return `{ ${body.map((x) => renderElementValue(x, quoteStrings)).join(', ')} }`;
    if (kind === 'range' && Array.isArray(body) && body.length === 2) {
      return `${renderValue(body[0], quoteStrings)}-${renderValue(body[1], quoteStrings)}`;
    }
    if (kind === 'prefix' && isObject(body) && typeof body.len === 'number') {
      return `${renderValue(body.addr, false)}/${body.len}`;
    }
    if (kind === 'elem' && isObject(body)) return renderValue(body.val, quoteStrings);
    if (kind === 'concat' && Array.isArray(body)) return body.map((x) => renderValue(x, quoteStrings)).join(' . ');
    const verdict = renderVerdict(kind, body);
    if (verdict !== undefined) return verdict;
  }
  return unknownText(v);
}

/** A set element or a `key : verdict` pair of a map. */
function renderElementValue(v: unknown, quoteStrings: boolean): string {
  if (Array.isArray(v) && v.length === 2) return `${renderValue(v[0], quoteStrings)} : ${renderValue(v[1], false)}`;
  return renderValue(v, quoteStrings);
}

/** An element of a set or map whose key type is `types` (concatenations quote their ifname parts). */
function renderTypedElement(v: unknown, types: readonly string[]): string {
  const key = (k: unknown): string => {
    const t = tagged(k);
    if (t && t[0] === 'concat' && Array.isArray(t[1])) return t[1].map((p, i) => renderValue(p, isIfnameType(types[i] ?? ''))).join(' . ');
    if (t && t[0] === 'elem' && isObject(t[1])) return key(t[1].val);
    return renderValue(k, types.length === 1 && isIfnameType(types[0] ?? ''));
  };
  if (Array.isArray(v) && v.length === 2) return `${key(v[0])} : ${renderValue(v[1], false)}`;
  return key(v);
}

function renderVerdict(kind: string, body: Json): string | undefined {
  if (['accept', 'drop', 'continue', 'return', 'queue'].includes(kind) && body === null) return kind;
  if ((kind === 'jump' || kind === 'goto') && isObject(body) && typeof body.target === 'string') return `${kind} ${body.target}`;
  return undefined;
}

function renderStatement(stmt: unknown): string {
  const t = tagged(stmt);
  if (!t) return unknownText(stmt);
  const [kind, body] = t;
  const verdict = renderVerdict(kind, body);
  if (verdict !== undefined) return verdict;
  if (kind === 'match' && isObject(body) && typeof body.op === 'string') {
    const left = renderLeft(body.left);
    const right = renderValue(body.right, left.quoteStrings);
    const op = body.op === '==' || body.op === 'in' ? '' : `${body.op} `;
    return `${left.text} ${op}${right}`;
  }
  if (kind === 'vmap' && isObject(body)) {
    const key = renderLeft(body.key);
    return `${key.text} vmap ${renderValue(body.data, key.quoteStrings)}`;
  }
  if ((kind === 'masquerade' || kind === 'notrack') && body === null) return kind;
  if (kind === 'reject') {
    if (body === null) return 'reject';
    if (isObject(body) && typeof body.type === 'string') {
      return typeof body.expr === 'string' ? `reject with ${body.type} ${body.expr}` : `reject with ${body.type}`;
    }
  }
  if ((kind === 'dnat' || kind === 'snat') && isObject(body)) {
    const family = typeof body.family === 'string' ? `${body.family} ` : '';
    const addr = tagged(body.addr);
    if (addr && addr[0] === 'map' && isObject(addr[1])) {
      return `${kind} ${family}to ${renderLeft(addr[1].key).text} map ${renderValue(addr[1].data, false)}`;
    }
    if (body.addr !== undefined && body.port === undefined) return `${kind} ${family}to ${renderValue(body.addr, false)}`;
  }
  // Counters change with traffic; their presence is what matters.
  if (kind === 'counter') return 'counter';
  return unknownText(stmt);
}

/** One rule in `nft list` syntax. */
export function renderRule(expr: readonly unknown[], comment?: string): string {
  const text = expr.map(renderStatement).join(' ');
  return comment === undefined ? text : `${text} comment ${JSON.stringify(comment)}`;
}

function setType(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join(' . ');
  return unknownText(v);
}

function isIfnameType(type: string): boolean {
  return type === 'ifname';
}

/**
 * Parse the output of `nft -j list table <family> <name>`. Returns undefined
 * when the listing has no such table.
 */
export function parseTableListing(json: string, family: string, name: string): ListedTable | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e: unknown) {
    throw new Error(`nft printed JSON that does not parse: ${e instanceof Error ? e.message : String(e)}`);
  }
  const items = isObject(raw) && Array.isArray(raw.nftables) ? raw.nftables : [];
  const ours = (o: JsonObject, tableKey: 'table' | 'name'): boolean => o.family === family && o[tableKey] === name;
  let found = false;
  const chains: ListedChain[] = [];
  const byName = new Map<string, ListedChain>();
  const sets: ListedSet[] = [];
  for (const item of items) {
    const t = tagged(item);
    if (!t || !isObject(t[1])) continue;
    const [kind, o] = t as [string, JsonObject];
    if (kind === 'table' && ours(o, 'name')) {
      found = true;
    } else if (kind === 'chain' && ours(o, 'table') && typeof o.name === 'string') {
      const chain: ListedChain = { name: o.name, rules: [] };
      if (typeof o.hook === 'string') {
        chain.hook = {
          type: str(o.type) ?? '?',
          hook: o.hook,
          prio: typeof o.prio === 'number' ? o.prio : NaN,
          policy: str(o.policy) ?? 'accept',
        };
      }
      chains.push(chain);
      byName.set(chain.name, chain);
    } else if ((kind === 'set' || kind === 'map') && ours(o, 'table') && typeof o.name === 'string') {
      const type = setType(o.type);
      const types = Array.isArray(o.type) ? o.type.map((x) => String(x)) : [type];
      const elem = Array.isArray(o.elem) ? o.elem : [];
      sets.push({
        kind,
        name: o.name,
        type,
        map: str(o.map) ?? (o.map === undefined ? undefined : unknownText(o.map)),
        flags: Array.isArray(o.flags) ? o.flags.map((f) => String(f)) : [],
        elements: elem.map((e) => renderTypedElement(e, types)),
      });
    } else if (kind === 'rule' && ours(o, 'table') && typeof o.chain === 'string') {
      const expr = Array.isArray(o.expr) ? o.expr : [];
      const rule = renderRule(expr, str(o.comment));
      const chain = byName.get(o.chain);
      if (chain) chain.rules.push(rule);
    }
  }
  return found ? { family, name, chains, sets } : undefined;
}

/** Chains of one table with their hooks, from `nft -j list chains <family>`. */
export function parseChainsListing(json: string, family: string, table: string): ListedChain[] {
  const listed = parseTableListing(
    // The chains listing has no table object; add one so the same parser reads it.
    JSON.stringify({ nftables: [{ table: { family, name: table } }, ...chainItems(json)] }),
    family,
    table,
  );
  return listed?.chains ?? [];
}

function chainItems(json: string): unknown[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return [];
  }
  return isObject(raw) && Array.isArray(raw.nftables) ? raw.nftables : [];
}
