import { isAscii } from 'node:buffer';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';

/**
 * Loads one CommonJS file (core/dist/volt.js, the bundle) the way `require`
 * does, but compiles it with a V8 code cache kept on disk, so a later `volt`
 * call skips parsing and compiling what the last call ran. Node 20 has no
 * module.enableCompileCache; this is the small part of it volt needs.
 *
 * Safe by construction:
 * - keyed by content: a cache file holds a copy of the exact source it was
 *   made from (compared byte for byte, cheaper than loading node:crypto to
 *   hash it) and the Node version, V8 version and architecture; any
 *   difference and it is not used. V8 checks its own version and flags again,
 *   and a cache it rejects is rewritten.
 * - written atomically: a temporary file in the same directory, renamed over
 *   the old one; readers never see half a file. Written at exit, and only when
 *   there was no usable cache or this kind of call is new to it (see `variant`).
 * - failure-tolerant: any error reading or writing the cache means "no cache",
 *   never a failed command.
 * - private: only a directory owned by this user and writable by no one else
 *   is used (a planted cache would be code run as this user).
 *
 * Where: $VOLT_CODE_CACHE_DIR, else $XDG_CACHE_HOME/volt/code-cache, else
 * ~/.cache/volt/code-cache (beside oclif's own cache dir), else
 * <tmpdir>/volt-code-cache-<uid>. VOLT_CODE_CACHE=off (or 0, false, no)
 * turns it off; VOLT_CODE_CACHE_DEBUG=1 says on stderr what it did.
 */

const MAGIC = Buffer.from('VOLTV8C3');

interface ModuleInternals {
  _cache: Record<string, Module>;
  _nodeModulePaths(from: string): string[];
}
const internals = Module as unknown as ModuleInternals;

/**
 * Node's CommonJS wrapper plus one parameter: the caller's import(). On Node 20,
 * import() in code that V8 took from a code cache made by another process fails
 * (the cache carries that process's callback id), so code loaded here reaches
 * import() through `__voltImportHost` (scripts/bundle.mjs routes the bundle's few
 * import() calls there).
 */
const WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname, __voltImportHost) { ';
const WRAPPER_TAIL = '\n});';

export type CodeCacheEvent =
  | { kind: 'disabled' }
  | { kind: 'hit'; file: string }
  | { kind: 'miss'; file: string; why: string }
  | { kind: 'written'; file: string; bytes: number }
  | { kind: 'error'; file?: string; message: string };

export interface CodeCacheOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * What kind of call this is (e.g. "net list"). A cache made by one kind of
   * call lacks the functions only another compiles; the first call of each new
   * kind (up to MAX_VARIANTS) rewrites the cache with what it added.
   */
  variant?: string;
  /** `(specifier) => import(specifier)`, written in a file Node loaded itself (see WRAPPER_HEAD). */
  dynamicImport?(specifier: string): Promise<unknown>;
  /** Told what happened (tests; VOLT_CODE_CACHE_DEBUG=1 prints it). */
  report?(event: CodeCacheEvent): void;
}

/** The cache directory, or undefined when caching is off. */
export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const mode = (env.VOLT_CODE_CACHE ?? '').trim().toLowerCase();
  if (['off', '0', 'false', 'no'].includes(mode)) return undefined;
  if (env.VOLT_CODE_CACHE_DIR) return path.resolve(env.VOLT_CODE_CACHE_DIR);
  if (env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)) return path.join(env.XDG_CACHE_HOME, 'volt', 'code-cache');
  if (env.HOME && path.isAbsolute(env.HOME)) return path.join(env.HOME, '.cache', 'volt', 'code-cache');
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  return path.join(os.tmpdir(), `volt-code-cache-${uid}`);
}

/** 32-bit FNV-1a: names the cache file after the loaded file's path (the header holds the full path). */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** One cache file per loaded file path: a rebuild replaces it rather than adding another. */
export function cacheFileFor(dir: string, realFile: string): string {
  return path.join(dir, `${path.basename(realFile, '.js')}-${fnv1a(realFile)}.v8cache`);
}

/** What besides the source must match: the runtime, and which file it was made for. */
function runtimeKey(realFile: string): string {
  return JSON.stringify([process.version, process.versions.v8, process.arch, realFile]);
}

/** Most variants one cache records; past that it is no longer refreshed for new ones. */
export const MAX_VARIANTS = 32;

export interface CacheFileContents {
  runtime: string;
  /** The kinds of call (e.g. "net list") whose compiled code the cache holds. */
  variants: string[];
  source: Buffer;
  data: Buffer;
}

/**
 * Layout: MAGIC, u32 length + JSON {runtime, variants}, u32 length + the
 * source it was made from, then V8's cached data.
 */
export function formatCacheFile(c: CacheFileContents): Buffer {
  const meta = Buffer.from(JSON.stringify({ runtime: c.runtime, variants: c.variants }), 'utf8');
  const metaLen = Buffer.alloc(4);
  metaLen.writeUInt32LE(meta.length);
  const srcLen = Buffer.alloc(4);
  srcLen.writeUInt32LE(c.source.length);
  return Buffer.concat([MAGIC, metaLen, meta, srcLen, c.source, c.data]);
}

/** The cached data and the variants it covers, when runtime and source match exactly. */
export function parseCacheFile(buf: Buffer, runtime: string, source: Buffer): { data?: Buffer; variants: string[]; why: string } {
  const none = (why: string) => ({ variants: [], why });
  let at = MAGIC.length;
  if (buf.length < at + 4 || !buf.subarray(0, at).equals(MAGIC)) return none('not a volt code cache');
  const metaLen = buf.readUInt32LE(at);
  at += 4;
  if (buf.length < at + metaLen + 4) return none('truncated');
  let meta: { runtime?: unknown; variants?: unknown };
  try {
    meta = JSON.parse(buf.toString('utf8', at, at + metaLen)) as typeof meta;
  } catch {
    return none('unreadable header');
  }
  if (meta.runtime !== runtime) return none('made by another runtime or for another file');
  at += metaLen;
  const srcLen = buf.readUInt32LE(at);
  at += 4;
  if (srcLen !== source.length || buf.length <= at + srcLen || !buf.subarray(at, at + srcLen).equals(source)) {
    return none('source changed');
  }
  const variants = Array.isArray(meta.variants) ? meta.variants.filter((v): v is string => typeof v === 'string') : [];
  return { data: buf.subarray(at + srcLen), variants, why: '' };
}

/** Ours alone: a directory owned by this user, not writable by group or others. */
function isPrivateDir(dir: string): boolean {
  const st = fs.statSync(dir);
  const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
  return st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0;
}

/** Write atomically: a unique temporary file in the same directory, renamed over the old one. */
export function writeCacheFile(file: string, contents: Buffer): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!isPrivateDir(dir)) throw new Error(`${dir} is not private to this user; not caching there`);
  const tmp = `${file}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeSync(fd, contents);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    removeStaleTemporaries(dir);
  } catch (e: unknown) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // never created, or already gone
    }
    throw e;
  }
}

/** Temporary files a killed writer left behind (best effort; an hour old means no writer owns them). */
function removeStaleTemporaries(dir: string): void {
  const cutoff = Date.now() - 3600_000;
  for (const name of fs.readdirSync(dir)) {
    if (!name.endsWith('.tmp')) continue;
    try {
      const p = path.join(dir, name);
      if (fs.statSync(p).mtimeMs < cutoff) fs.unlinkSync(p);
    } catch {
      // gone already, or not ours to remove
    }
  }
}

const noReport = (): void => {};
const stderrReport = (e: CodeCacheEvent): void => {
  process.stderr.write(`code-cache: ${JSON.stringify(e)}\n`);
};

/**
 * `require(file)` with a code cache. The module lands in require's cache
 * under its real path, so a later `require` of the same file (oclif loading
 * the `explicit` commands target) gets this instance, not a second copy.
 */
export function requireWithCodeCache(file: string, opts: CodeCacheOptions = {}): unknown {
  const env = opts.env ?? process.env;
  const report = opts.report ?? (env.VOLT_CODE_CACHE_DEBUG ? stderrReport : noReport);
  const real = fs.realpathSync(file);
  const loaded = internals._cache[real];
  if (loaded) return loaded.exports;

  const bytes = fs.readFileSync(real);
  // A one-byte string is cheaper to make and for V8 to scan; the bundle is kept ASCII for this.
  const source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');

  let dir = codeCacheDir(env);
  const variant = opts.variant ?? '';
  let cacheFile: string | undefined;
  let runtime: string | undefined;
  let cachedData: Buffer | undefined;
  let variants: string[] = [];
  if (dir === undefined) {
    report({ kind: 'disabled' });
  } else {
    try {
      cacheFile = cacheFileFor(dir, real);
      runtime = runtimeKey(real);
      let found: { data?: Buffer; variants: string[]; why: string };
      try {
        found = parseCacheFile(fs.readFileSync(cacheFile), runtime, bytes);
      } catch (e: unknown) {
        found = { variants: [], why: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no cache yet' : (e as Error).message };
      }
      if (found.data && !isPrivateDir(dir)) {
        report({ kind: 'error', file: cacheFile, message: `${dir} is not private to this user; cache not used` });
        dir = undefined;
      } else if (found.data) {
        cachedData = found.data;
        variants = found.variants;
      } else {
        report({ kind: 'miss', file: cacheFile, why: found.why });
      }
    } catch (e: unknown) {
      report({ kind: 'error', file: cacheFile, message: (e as Error).message });
      dir = undefined;
    }
  }

  const script = new vm.Script(WRAPPER_HEAD + source + WRAPPER_TAIL, {
    filename: real,
    // Stack traces give first-line columns as in the file, not the wrapper.
    columnOffset: -WRAPPER_HEAD.length,
    cachedData,
  });
  const rejected = cachedData !== undefined && script.cachedDataRejected === true;
  if (cachedData !== undefined && cacheFile) report(rejected ? { kind: 'miss', file: cacheFile, why: 'rejected by V8' } : { kind: 'hit', file: cacheFile });

  const mod = new Module(real, require.main);
  mod.filename = real;
  mod.paths = internals._nodeModulePaths(path.dirname(real));
  internals._cache[real] = mod;
  try {
    const fn = script.runInThisContext({ displayErrors: true }) as (
      exports: unknown,
      require: NodeJS.Require,
      module: Module,
      filename: string,
      dirname: string,
      importHost: CodeCacheOptions['dynamicImport'],
    ) => void;
    fn.call(mod.exports, mod.exports, Module.createRequire(real), mod, real, path.dirname(real), opts.dynamicImport);
    mod.loaded = true;
  } catch (e: unknown) {
    delete internals._cache[real];
    throw e;
  }

  const newVariant = cachedData !== undefined && !rejected && !variants.includes(variant) && variants.length < MAX_VARIANTS;
  if (dir !== undefined && cacheFile && runtime && (cachedData === undefined || rejected || newVariant)) {
    // At exit, so the cache holds every function this call compiled, not only the top level
    // (and, when the cache was used, what it already held).
    const target = cacheFile;
    const meta = { runtime, variants: cachedData === undefined || rejected ? [variant] : [...variants, variant] };
    process.once('exit', () => {
      try {
        const data = script.createCachedData();
        writeCacheFile(target, formatCacheFile({ ...meta, source: bytes, data }));
        report({ kind: 'written', file: target, bytes: data.length });
      } catch (e: unknown) {
        report({ kind: 'error', file: target, message: (e as Error).message });
      }
    });
  }
  return mod.exports;
}
