/**
 * Other firewalls' base chains that would drop volt's traffic. nftables runs
 * every base chain registered on a hook, and a drop anywhere is final: an
 * accept in table inet volt does not save a packet that a Docker- or
 * firewalld-style table drops on the same hook. Pure, for unit tests; the
 * driver feeds it `nft -j` listings.
 */

export interface ForeignChain {
  family: string;
  table: string;
  name: string;
  hook: string;
  type: string;
  policy: string;
  /** The `expr` arrays of its rules, as nft -j lists them. */
  rules: unknown[][];
}

type JsonObject = { [key: string]: unknown };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function tagged(v: unknown): [string, unknown] | undefined {
  if (!isObject(v)) return undefined;
  const keys = Object.keys(v);
  return keys.length === 1 ? [keys[0] as string, v[keys[0] as string]] : undefined;
}

const VERDICTS = new Set(['accept', 'drop', 'reject', 'jump', 'goto', 'return', 'queue', 'continue']);
// Statements that neither match nor decide.
const NEUTRAL = new Set(['counter', 'log', 'limit', 'meter', 'mangle', 'xt']);

interface RuleShape {
  verdict?: string;
  /** The interface matches a rule is limited to; undefined when it also matches something else. */
  interfaces?: { key: 'iifname' | 'oifname'; name: string }[];
  unconditional: boolean;
}

function shapeOf(expr: unknown[]): RuleShape {
  let verdict: string | undefined;
  const interfaces: { key: 'iifname' | 'oifname'; name: string }[] = [];
  let other = false;
  for (const stmt of expr) {
    const t = tagged(stmt);
    if (!t) {
      other = true;
      continue;
    }
    const [kind, body] = t;
    if (VERDICTS.has(kind)) {
      verdict = kind;
      continue;
    }
    if (NEUTRAL.has(kind)) continue;
    if (kind === 'match' && isObject(body)) {
      const left = tagged(body.left);
      const key = left && left[0] === 'meta' && isObject(left[1]) ? left[1].key : undefined;
      if ((key === 'iifname' || key === 'oifname') && (body.op === '==' || body.op === 'in') && typeof body.right === 'string') {
        interfaces.push({ key, name: body.right });
        continue;
      }
    }
    other = true;
  }
  const matches = interfaces.length > 0 || other;
  return { verdict, interfaces: other ? undefined : interfaces, unconditional: !matches };
}

/** "volt*" covers "volt-a"; a plain name covers only itself. */
function covers(pattern: string, ifname: string): boolean {
  return pattern.endsWith('*') ? ifname.startsWith(pattern.slice(0, -1)) : pattern === ifname;
}

const RELEVANT_HOOKS: Record<string, string[]> = {
  ip: ['input', 'forward'],
  inet: ['input', 'forward'],
  bridge: ['input', 'forward'],
};

/** Is this chain worth listing rules for (a foreign filter base chain on a hook volt's traffic passes)? */
export function relevantChain(c: { family: string; table: string; hook?: string; type?: string }): boolean {
  if ((c.family === 'inet' || c.family === 'bridge') && c.table === 'volt') return false;
  return c.hook !== undefined && (c.type ?? 'filter') === 'filter' && (RELEVANT_HOOKS[c.family] ?? []).includes(c.hook);
}

/** One warning per foreign chain that drops the traffic of some of `bridges`. */
export function foreignWarnings(chains: readonly ForeignChain[], bridges: readonly string[]): string[] {
  if (bridges.length === 0) return [];
  const out: string[] = [];
  for (const c of chains) {
    if (!relevantChain(c)) continue;
    const shapes = c.rules.map(shapeOf);
    const last = shapes[shapes.length - 1];
    let why: string | undefined;
    if (c.policy === 'drop') why = 'policy drop';
    else if (last && last.unconditional && (last.verdict === 'drop' || last.verdict === 'reject')) why = `ends in an unconditional ${last.verdict}`;
    if (!why) continue;
    // Accept rules limited to an interface exempt those bridges: `iifname "volt*" accept` for
    // input; for forward also `oifname "volt*" accept` (replies and port forwards go into the bridge).
    const accepted = { iifname: new Set<string>(), oifname: new Set<string>() };
    for (const s of shapes) {
      if (s.verdict !== 'accept' || !s.interfaces || s.interfaces.length !== 1) continue;
      const m = s.interfaces[0]!;
      for (const b of bridges) if (covers(m.name, b)) accepted[m.key].add(b);
    }
    const exempt = (b: string): boolean => accepted.iifname.has(b) && (c.hook !== 'forward' || c.family === 'bridge' || accepted.oifname.has(b));
    const hit = bridges.filter((b) => !exempt(b));
    if (hit.length === 0) continue;
    const what =
      c.hook === 'input'
        ? 'DNS, DHCP and everything else from workloads to the host'
        : c.family === 'bridge'
          ? 'traffic between workloads on one bridge'
          : 'traffic of workloads (outbound, between networks, port forwards; on one bridge too, with br_netfilter)';
    out.push(
      `table ${c.family} ${c.table}, chain "${c.name}" (hook ${c.hook}, ${why}) would drop ${what} on ${hit.join(', ')}: ` +
        `nftables runs every base chain and a drop there is final, whatever table inet volt accepts; ` +
        `allow volt's bridges in that chain (for example iifname "volt*" accept and oifname "volt*" accept)`,
    );
  }
  return out;
}
