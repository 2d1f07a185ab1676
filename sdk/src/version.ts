/**
 * The SDK's semantic version (the same as sdk/package.json; a unit test holds them together).
 * The major changes when a contract, token or helper changes incompatibly: a plugin built for
 * another major is refused at load (see `checkPluginSdk`).
 */
export const SDK_VERSION = '1.1.0';

export const SDK_MAJOR = Number(SDK_VERSION.split('.')[0]);

/** What a plugin's package.json says about the SDK it was built for. */
export interface PluginManifest {
  name: string;
  version?: string;
  peerDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
  volt?: { sdk?: string };
}

export type SdkCheck =
  | { ok: true; range: string }
  | { ok: false; range?: string; reason: string; fix: string };

/**
 * Does a plugin built for `range` (its `peerDependencies["@volt/sdk"]`, else `dependencies`,
 * else `volt.sdk`) work with this SDK? Yes when every version the range admits has our major.
 * Understood: `1`, `1.x`, `1.2.3`, `^1.2.3`, `~1.2`, `>=1.0.0 <2`, and `||` of those.
 */
export function checkPluginSdk(pkg: PluginManifest, ours: string = SDK_VERSION): SdkCheck {
  const range = pkg.peerDependencies?.['@volt/sdk'] ?? pkg.dependencies?.['@volt/sdk'] ?? pkg.volt?.sdk;
  const major = Number(ours.split('.')[0]);
  const fix = `rebuild ${pkg.name} against @volt/sdk ${major}.x and declare "peerDependencies": { "@volt/sdk": "^${major}.0.0" }, or install a release of it made for this volt`;
  if (range === undefined || range.trim() === '') {
    return { ok: false, reason: `it does not say which @volt/sdk it was built for (this volt has ${ours})`, fix };
  }
  const majors = rangeMajors(range);
  if (majors === undefined) {
    return { ok: false, range, reason: `its @volt/sdk range "${range}" is not one volt understands (this volt has ${ours})`, fix };
  }
  if (majors.length === 1 && majors[0] === major) return { ok: true, range };
  const wanted = majors.length === 0 ? 'no version' : majors.map((m) => `${m}.x`).join(' or ');
  return { ok: false, range, reason: `it was built for @volt/sdk ${range} (${wanted}), and this volt has @volt/sdk ${ours}`, fix };
}

/** The majors a range admits (sorted), or undefined when it cannot be read; an open upper end spans to 999. */
function rangeMajors(range: string): number[] | undefined {
  const out = new Set<number>();
  for (const alt of range.split('||')) {
    const span = altSpan(alt.trim());
    if (span === undefined) return undefined;
    for (let m = span.lo; m <= Math.min(span.hi, 999); m++) out.add(m);
  }
  return [...out].sort((a, b) => a - b);
}

const VERSION = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-[0-9A-Za-z.-]+)?$/;

/** Inclusive span of majors one comparator set admits. */
function altSpan(alt: string): { lo: number; hi: number } | undefined {
  if (alt === '' || alt === '*' || alt === 'x') return { lo: 0, hi: Infinity };
  let lo = 0;
  let hi = Infinity;
  for (const part of alt.split(/\s+/)) {
    const m = /^(\^|~|>=|<=|>|<|=)?(.*)$/.exec(part)!;
    const op = m[1] ?? '';
    const v = VERSION.exec(m[2]!);
    if (!v) return undefined;
    const wild = (s: string | undefined): boolean => s === undefined || /^[xX*]$/.test(s);
    if (wild(v[1])) continue;
    const major = Number(v[1]);
    const rest = [v[2], v[3]].map((s) => (wild(s) ? 0 : Number(s)));
    const zeroRest = rest.every((n) => n === 0) && !(v[0]!.includes('-'));
    switch (op) {
      case '':
      case '=':
      case '^':
      case '~':
        lo = Math.max(lo, major);
        hi = Math.min(hi, major);
        break;
      case '>=':
        lo = Math.max(lo, major);
        break;
      case '>':
        lo = Math.max(lo, wild(v[2]) ? major + 1 : major);
        break;
      case '<':
        hi = Math.min(hi, zeroRest ? major - 1 : major);
        break;
      case '<=':
        hi = Math.min(hi, major);
        break;
    }
  }
  return lo <= hi ? { lo, hi } : { lo: 1, hi: 0 };
}
