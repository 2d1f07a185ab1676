/**
 * Differential test of the fast path's request parser (http1-parser.ts)
 * against llhttp, the parser of Node's http server (docs/decisions/0006):
 * seeded random mutations of valid requests — folding, odd whitespace,
 * Content-Length / Transfer-Encoding combinations, bare LF and CR, chunk
 * extensions, invalid tokens, control characters, versions, targets — fed to
 * both, each followed by a sentinel request.
 *
 * - ours `request`: llhttp must accept the same bytes, with the same method,
 *   target, Host, number of header fields, body length, and end the message
 *   at the same byte (the framing); anything else is a bug.
 * - ours `invalid` (400/505): fine whatever llhttp says; where llhttp accepts,
 *   the case is counted under its reason (the documented strictness).
 * - ours `fallback`: Node's parser decides, so the two agree by construction.
 *
 * A few thousand cases run in CI; `VOLT_DIFF_CASES=N` (and `VOLT_DIFF_SEED`)
 * for a big run by hand; `VOLT_DIFF_REPORT=1` prints the counts, and
 * `VOLT_DIFF_SHOW=stricter` a few examples of each verdict starting so.
 */
import test from 'ava';
import { parseRequestHead, type RequestParse } from '@volt/plugin-ingress/dist/http1-parser';

// ---- llhttp, as node:http's server runs it ---------------------------------------------

interface LlParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(buf: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  [k: number]: unknown;
}
interface LlParserClass {
  new (): LlParser;
  REQUEST: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnMessageBegin: number;
  kLenientNone: number;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const common = require('_http_common') as { HTTPParser: LlParserClass; methods: string[] };
const { HTTPParser } = common;
/** llhttp's method numbers (its enum, not the index in http.METHODS): learnt by parsing each method once. */
const methodNames = new Map<number, string>();

interface LlMessage {
  method: string;
  url: string;
  headers: string[];
  upgrade: boolean;
  keepAlive: boolean;
  versionMajor: number;
  versionMinor: number;
  bodyLength: number;
  /** Byte offset just past the end of the message (-1: not complete). */
  end: number;
}
interface LlResult {
  /** The first message, when llhttp got through its head. */
  first?: LlMessage;
  /** llhttp's error code before the first message completed. */
  error?: string;
}

const MAX_HEADER_SIZE = 16 * 1024;

/** Feed `buf` to llhttp one byte at a time until the first message ends (to know where), then the rest. */
function llhttp(buf: Buffer): LlResult {
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_SIZE, HTTPParser.kLenientNone);
  let headers: string[] = [];
  let url = '';
  let current: LlMessage | undefined;
  let first: LlMessage | undefined;
  let offset = 0;
  p[HTTPParser.kOnHeaders] = (h: string[], u: string): void => {
    headers = headers.concat(h);
    url += u;
  };
  p[HTTPParser.kOnHeadersComplete] = (versionMajor: number, versionMinor: number, h: string[] | undefined, method: number, u: string | undefined, _s: unknown, _m: unknown, upgrade: boolean, keepAlive: boolean): number => {
    const all = h === undefined ? headers : headers.concat(h);
    current = { method: methodNames.get(method) ?? String(method), url: url + (u ?? ''), headers: all, upgrade, keepAlive, versionMajor, versionMinor, bodyLength: 0, end: -1 };
    headers = [];
    url = '';
    first ??= current;
    return 0;
  };
  p[HTTPParser.kOnBody] = (b: Buffer): void => {
    if (current !== undefined) current.bodyLength += b.length;
  };
  p[HTTPParser.kOnMessageComplete] = (): void => {
    if (current !== undefined && current.end < 0) current.end = offset + 1;
  };
  try {
    for (; offset < buf.length; ) {
      const r = p.execute(buf.subarray(offset, offset + 1));
      offset++;
      if (r instanceof Error) return { ...(first ? { first } : {}), error: (r as NodeJS.ErrnoException).code ?? r.message };
      if (first !== undefined && first.end >= 0) break;
      if (first?.upgrade === true) break;
    }
    return first ? { first } : { error: 'incomplete' };
  } finally {
    p.close();
  }
}

for (const name of common.methods) {
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_SIZE, HTTPParser.kLenientNone);
  p[HTTPParser.kOnHeadersComplete] = (_a: number, _b: number, _h: unknown, method: number): number => {
    methodNames.set(method, name);
    return 0;
  };
  p.execute(Buffer.from(`${name} ${name === 'CONNECT' ? 'a:1' : '/'} HTTP/1.1\r\nHost: a\r\n\r\n`, 'latin1'));
  p.close();
}

// ---- generation --------------------------------------------------------------------

/** mulberry32: small, seeded, good enough to spread mutations. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Req {
  line: [string, string, string];
  headers: [string, string][];
  body: string;
  /** Raw separators, mutated in place: after the request line, after each header, the blank line. */
  eol: string[];
  /** A raw prefix (leading blank lines). */
  prefix: string;
}

const BASES = (): Req[] => [
  { line: ['GET', '/a/b?c=d', 'HTTP/1.1'], headers: [['Host', 'app.test'], ['Accept', '*/*'], ['User-Agent', 'diff/1']], body: '', eol: [], prefix: '' },
  { line: ['POST', '/submit', 'HTTP/1.1'], headers: [['Host', 'app.test'], ['Content-Type', 'text/plain'], ['Content-Length', '5']], body: 'hello', eol: [], prefix: '' },
  { line: ['POST', '/chunked', 'HTTP/1.1'], headers: [['Host', 'app.test'], ['Transfer-Encoding', 'chunked']], body: '5\r\nhello\r\n0\r\n\r\n', eol: [], prefix: '' },
  { line: ['HEAD', '/', 'HTTP/1.1'], headers: [['Host', 'app.test'], ['Connection', 'close']], body: '', eol: [], prefix: '' },
  { line: ['PUT', '/x', 'HTTP/1.1'], headers: [['Host', 'app.test:8080'], ['Content-Length', '0'], ['Cookie', 'a=1; b=2']], body: '', eol: [], prefix: '' },
  { line: ['DELETE', '/v1/item/7', 'HTTP/1.1'], headers: [['host', 'app.test'], ['X-Custom', 'v']], body: '', eol: [], prefix: '' },
];

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

type Mutation = (q: Req, r: () => number) => void;

const hi = (q: Req, r: () => number): number => Math.floor(r() * q.headers.length);
const CL_VALUES = ['5', '0', '3', '+5', '-1', '5, 5', '5,5', '05', ' 5', '0x5', '5 5', '', '99999999999999999', '1e1', '5\t', '٥'];
const TE_VALUES = ['chunked', 'identity', 'gzip', 'chunked, identity', 'gzip, chunked', 'CHUNKED', ' chunked', 'chunked;q=1', 'xchunked', ''];
const VERSIONS = ['HTTP/1.0', 'HTTP/1.2', 'HTTP/1.9', 'HTTP/2.0', 'HTTP/3.0', 'HTTP/0.9', 'HTTP/1.10', 'HTTP/1.1 ', 'http/1.1', 'HTTP/1', 'HTTP/11', 'HTTP/1.1\t', 'HTTP/1.x', 'HTTP/ 1.1', 'HTTP/1.01', 'HTTPS/1.1'];
const TARGETS = ['*', 'http://app.test/x', 'HTTP://app.test', '//x', '/caf\xe9', '/a b', '/a\tb', '/#frag', '', '/%2e%2e/', 'app.test:443', '/a?b=c d', '/\x7f', '/a\x00', '/ok'];
const METHODS = ['get', 'G@T', 'GET\t', 'CONNECT', 'OPTIONS', 'PATCH', 'FOO', 'M-SEARCH', 'PROPFIND', 'G(T', 'GE T', 'X'.repeat(30), 'PRI', 'SOURCE', 'QUERY'];
const NAME_CHARS = ['@', '(', '"', ' ', '\x00', '\x7f', '\xe9', '/', '[', '{', '\t', ':', '\x01', '_', '.'];
const VALUE_CHARS = ['\x00', '\x01', '\x0b', '\x7f', '\r', '\n', '\xff', '\x80', '\t', '"', '\x1f'];

const MUTATIONS: [string, Mutation][] = [
  ['fold', (q, r) => {
    const i = hi(q, r);
    q.headers[i]![1] += pick(r, ['\r\n ', '\r\n\t', '\r\n  x']) + 'more';
  }],
  ['space-before-colon', (q, r) => {
    const i = hi(q, r);
    q.headers[i]![0] += pick(r, [' ', '\t', '  ']);
  }],
  ['value-whitespace', (q, r) => {
    const i = hi(q, r);
    q.headers[i]![1] = pick(r, ['', ' ', '\t', '   ']) + q.headers[i]![1] + pick(r, ['', ' ', '\t', ' \t ']);
  }],
  ['line-start-whitespace', (q, r) => {
    const i = hi(q, r);
    q.headers[i]![0] = pick(r, [' ', '\t']) + q.headers[i]![0];
  }],
  ['request-line-whitespace', (q, r) => {
    const k = Math.floor(r() * 3);
    q.line[k] = pick(r, [' ', '\t', '']) + q.line[k] + pick(r, ['', ' ', '\t']);
  }],
  ['content-length', (q, r) => {
    q.headers.splice(hi(q, r), 0, [pick(r, ['Content-Length', 'content-length', 'CONTENT-LENGTH', 'Content-length', 'Content_Length', 'Content-Length ']), pick(r, CL_VALUES)]);
  }],
  ['transfer-encoding', (q, r) => {
    q.headers.splice(hi(q, r), 0, [pick(r, ['Transfer-Encoding', 'transfer-encoding', 'Transfer_Encoding', 'Transfer-Encoding ']), pick(r, TE_VALUES)]);
  }],
  ['duplicate-header', (q, r) => {
    const i = hi(q, r);
    q.headers.splice(i, 0, [q.headers[i]![0], r() < 0.5 ? q.headers[i]![1] : 'other']);
  }],
  ['drop-header', (q, r) => {
    if (q.headers.length > 1) q.headers.splice(hi(q, r), 1);
  }],
  ['bare-lf', (q, r) => {
    const n = q.headers.length + 2;
    q.eol[Math.floor(r() * n)] = '\n';
  }],
  ['bare-cr', (q, r) => {
    const n = q.headers.length + 2;
    q.eol[Math.floor(r() * n)] = pick(r, ['\r', '\n\r', '\r\r\n']);
  }],
  ['chunk-extension', (q, r) => {
    q.body = pick(r, ['5;ext=1\r\nhello\r\n0\r\n\r\n', '5;ext="a b"\r\nhello\r\n0\r\n\r\n', '5 ;x\r\nhello\r\n0\r\n\r\n', '5;\x01\r\nhello\r\n0\r\n\r\n', '5\r\nhello\r\n0;last\r\n\r\n', '05\r\nhello\r\n0\r\nTrailer: x\r\n\r\n', '5\nhello\n0\n\n', 'fffffffffffffffff\r\n']);
  }],
  ['invalid-name', (q, r) => {
    const i = hi(q, r);
    const n = q.headers[i]![0];
    const at = Math.floor(r() * (n.length + 1));
    q.headers[i]![0] = n.slice(0, at) + pick(r, NAME_CHARS) + n.slice(at);
  }],
  ['empty-name', (q, r) => {
    q.headers.splice(hi(q, r), 0, [pick(r, ['', ' ']), 'x']);
  }],
  ['value-control', (q, r) => {
    const i = hi(q, r);
    const v = q.headers[i]![1];
    const at = Math.floor(r() * (v.length + 1));
    q.headers[i]![1] = v.slice(0, at) + pick(r, VALUE_CHARS) + v.slice(at);
  }],
  ['version', (q, r) => {
    q.line[2] = pick(r, VERSIONS);
  }],
  ['target', (q, r) => {
    q.line[1] = pick(r, TARGETS);
  }],
  ['method', (q, r) => {
    q.line[0] = pick(r, METHODS);
  }],
  ['host', (q, r) => {
    const v = pick(r, ['', 'app.test', 'other.test', 'app.test:abc', ' app.test']);
    if (r() < 0.5) q.headers.push(['Host', v]);
    else q.headers = q.headers.filter(([n]) => n.toLowerCase() !== 'host');
  }],
  ['name-case', (q, r) => {
    const i = hi(q, r);
    q.headers[i]![0] = [...q.headers[i]![0]].map((c) => (r() < 0.5 ? c.toUpperCase() : c.toLowerCase())).join('');
  }],
  ['leading-blank-line', (q, r) => {
    q.prefix = pick(r, ['\r\n', '\n', '\r\n\r\n', ' ']);
  }],
  ['hop-by-hop', (q, r) => {
    q.headers.push(pick(r, [['Expect', '100-continue'], ['Upgrade', 'websocket'], ['Connection', 'upgrade'], ['Connection', 'Content-Length'], ['Connection', 'close, te'], ['TE', 'trailers'], ['Connection', 'keep-alive'], ['Connection', 'Transfer-Encoding'], ['Proxy-Connection', 'close']] as [string, string][]));
  }],
  ['no-colon', (q, r) => {
    const i = hi(q, r);
    q.headers[i]![0] = `${q.headers[i]![0]} ${q.headers[i]![1]}`;
    q.headers[i]![1] = '\u0000NOCOLON';
  }],
  ['obs-text', (q, r) => {
    const i = hi(q, r);
    q.headers[i]![1] += pick(r, ['\xe9', '\xff\xfe', '\x80']);
  }],
  ['body-length-mismatch', (q, r) => {
    q.body = pick(r, ['', 'hel', 'hello world', 'hello']);
  }],
];

function render(q: Req): Buffer {
  const eol = (i: number): string => q.eol[i] ?? '\r\n';
  let s = q.prefix + q.line.join(' ') + eol(0);
  q.headers.forEach(([n, v], i) => {
    // "no-colon" keeps the line as it is.
    s += (v === '\u0000NOCOLON' ? n : `${n}:${v.startsWith(' ') || v.startsWith('\t') || v === '' ? '' : ' '}${v}`) + eol(i + 1);
  });
  s += eol(q.headers.length + 1) + q.body;
  return Buffer.from(s, 'latin1');
}

function generate(seed: number): { buf: Buffer; mutations: string[] } {
  const r = rng(seed);
  const q = structuredClone(pick(r, BASES()));
  const mutations: string[] = [];
  const n = Math.floor(r() * 4); // 0-3 mutations; a quarter stay valid
  for (let i = 0; i < n; i++) {
    const [name, m] = pick(r, MUTATIONS);
    // Mutations pick a header: there is always one.
    if (q.headers.length === 0) q.headers.push(['X-Filler', '1']);
    m(q, r);
    mutations.push(name);
  }
  return { buf: render(q), mutations };
}

const SENTINEL = Buffer.from('GET /sentinel HTTP/1.1\r\nHost: s\r\n\r\n', 'latin1');
const LIMITS = { maxHeaderBytes: MAX_HEADER_SIZE, maxHeaderCount: 100 };

interface Outcome {
  /** 'agree' (both accept, same framing), 'both-reject', 'fallback', 'stricter:<reason>', or 'BUG: …'. */
  verdict: string;
}

function compare(buf: Buffer): Outcome {
  const input = Buffer.concat([buf, SENTINEL]);
  const ours: RequestParse = parseRequestHead(input, 0, input.length, LIMITS);
  const ll = llhttp(input);
  const llOk = ll.error === undefined && ll.first !== undefined && !ll.first.upgrade;
  switch (ours.kind) {
    case 'fallback':
      return { verdict: 'fallback' };
    case 'invalid':
      return { verdict: llOk ? `stricter: ${ours.reason.replace(/HTTP\/\d\.\d/, 'HTTP/x.y')}` : 'both-reject' };
    case 'incomplete':
      return { verdict: llOk ? 'BUG: we wait for more bytes, llhttp completes the request' : 'both-wait-or-reject' };
    case 'request': {
      if (!llOk) {
        // HTTP/1.2…1.9 is 1.1 for us (RFC 9110 §2.5); llhttp knows only 0.9, 1.0, 1.1 and 2.0.
        if (ll.error === 'HPE_INVALID_VERSION' && /^[A-Z-]+ \S+ HTTP\/1\.[2-9]\r\n/.test(buf.toString('latin1'))) return { verdict: 'laxer (documented): HTTP/1.2-1.9 as 1.1' };
        return { verdict: `BUG: we accept, llhttp says ${ll.error ?? (ll.first?.upgrade ? 'upgrade' : '?')}` };
      }
      const m = ll.first!;
      const llHost = hostOf(m.headers);
      const problems: string[] = [];
      if (m.method !== ours.method) problems.push(`method ${ours.method} vs ${m.method}`);
      if (m.url !== ours.target) problems.push(`target ${JSON.stringify(ours.target)} vs ${JSON.stringify(m.url)}`);
      if (llHost !== ours.host) problems.push(`host ${JSON.stringify(ours.host)} vs ${JSON.stringify(llHost)}`);
      if (m.headers.length / 2 !== ours.headerCount) problems.push(`header count ${ours.headerCount} vs ${m.headers.length / 2}`);
      if (m.bodyLength !== ours.contentLength) problems.push(`body ${ours.contentLength} vs ${m.bodyLength}`);
      if (m.end !== ours.headEnd + ours.contentLength) problems.push(`message end ${ours.headEnd + ours.contentLength} vs ${m.end}`);
      // Closing where llhttp would keep the connection is safe (we trim OWS around `close`, llhttp does not); the reverse is not.
      if (!ours.close && !m.keepAlive && m.versionMinor === 1) problems.push(`we keep the connection, llhttp closes it`);
      if (problems.length === 0 && ours.close && m.keepAlive) return { verdict: 'stricter: closes where llhttp keeps alive' };
      return { verdict: problems.length === 0 ? 'agree' : `BUG: ${problems.join('; ')}` };
    }
  }
}

function hostOf(headers: string[]): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === 'host') return headers[i + 1];
  return undefined;
}

const CASES = Number(process.env.VOLT_DIFF_CASES ?? '4000');
const SEED = Number(process.env.VOLT_DIFF_SEED ?? '16');

test(`differential: our request parser against llhttp on ${CASES} generated requests (seed ${SEED})`, (t) => {
  const counts = new Map<string, number>();
  const bugs: string[] = [];
  const shown = new Map<string, number>();
  for (let i = 0; i < CASES; i++) {
    const { buf, mutations } = generate(SEED * 1_000_003 + i);
    const { verdict } = compare(buf);
    const key = verdict.startsWith('BUG') ? 'BUG' : verdict;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (verdict.startsWith('BUG') && bugs.length < 20) bugs.push(`case ${i} [${mutations.join(', ')}] ${JSON.stringify(buf.toString('latin1'))}: ${verdict}`);
    const show = process.env.VOLT_DIFF_SHOW;
    if (show !== undefined && show !== '' && verdict.startsWith(show) && (shown.get(verdict) ?? 0) < 5) {
      shown.set(verdict, (shown.get(verdict) ?? 0) + 1);
      process.stdout.write(`${verdict}: ${JSON.stringify(buf.toString('latin1'))}\n`);
    }
  }
  const summary = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${String(n).padStart(7)}  ${k}`).join('\n');
  if (process.env.VOLT_DIFF_REPORT === '1') process.stdout.write(`differential, ${CASES} cases, seed ${SEED}:\n${summary}\n`);
  t.log(summary);
  t.deepEqual(bugs, [], 'we accept what llhttp rejects, or frame a request differently');
  // The generator must reach every outcome, or the comparison proves little.
  t.true((counts.get('agree') ?? 0) > CASES / 10, 'enough requests both accept');
  t.true((counts.get('both-reject') ?? 0) > 0 && (counts.get('fallback') ?? 0) > 0);
});

test('differential: the comparison itself catches a disagreement (a parser that ignores Content-Length)', (t) => {
  const buf = Buffer.concat([Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello', 'latin1'), SENTINEL]);
  const ll = llhttp(buf);
  t.is(ll.first?.end, buf.length - SENTINEL.length);
  t.is(ll.first?.bodyLength, 5);
  t.is(compare(Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello', 'latin1')).verdict, 'agree');
  t.regex(llhttp(Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', 'latin1')).error ?? '', /HPE_/);
});
