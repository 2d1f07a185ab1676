import * as fs from 'node:fs';
import { ConflictError, DriftError, DriverError, NotFoundError, UserInputError, type VoltError } from '@volt/sdk';
import type { VoltPaths } from '@volt/sdk';
import { Sysctl, normalizeSysctlValue, parseSysctlKey, type SysctlKey } from '../../kernel/sysctl';
import { applySteps, type Step } from '../attachments/steps';
import {
  loadTuning,
  parseSysctlConf,
  readIfExists,
  renderSysctlConf,
  renderTuning,
  restoreFile,
  tuningEntries,
  writeFileAtomic,
  compareKeys,
  removeFile,
  type TunedSysctl,
  type TuningRecord,
} from './tune-conf';
import { BYTE_SIZE_KEYS, GLOBAL_NET_KEYS, NETWORK_KEYS, WRITABLE_TREE, nearMatches } from './tune-keys';
import { formatSize, parseSize } from './tune-size';

export interface TuneDeps {
  paths: VoltPaths;
  warn(message: string): void;
  /** Default: the real /proc/sys. */
  sysctl?: Sysctl;
  now?(): string;
  lockTimeoutMs?: number;
}

/** One key as volt sees it: live in this network namespace, and what volt recorded. */
export interface SysctlView {
  key: string;
  /** The live value here; undefined when the key is not there (or unreadable). */
  live?: string;
  /** What volt set (managed keys only). */
  managed?: string;
  /** The live value before volt first set it. */
  previous?: string;
  setAt?: string;
  /** ok: live = what volt set; drift: it differs; missing: managed but not present here; unmanaged: volt never set it. */
  status: 'ok' | 'drift' | 'missing' | 'unmanaged';
  /** Can it be written from this network namespace? */
  writable: boolean;
  note?: string;
  about?: string;
}

/** What one set changed. */
export interface SysctlChange {
  key: string;
  /** The value the kernel holds now (volt persists this). */
  value: string;
  /** The live value just before. */
  before: string;
  /** What volt recorded as the value before it first set this key. */
  previous?: string;
  /** The value as asked, when the kernel stored it in another form. */
  requested?: string;
  changed: boolean;
}

export interface UnsetResult {
  key: string;
  /** What volt had set. */
  value: string;
  previous?: string;
  /** Set when the live value was put back to `previous`. */
  restored?: string;
  /** The live value now (undefined: not present here). */
  live?: string;
  note?: string;
}

export interface TuningView {
  /** Where volt runs: the machine's root network namespace, or another one (a container, a test sandbox). */
  namespace: 'root' | 'non-root';
  file: string;
  settings: SysctlView[];
  /** Differences between volt's record, the kernel and the sysctl.d file, one sentence each. */
  drift: string[];
}

export interface BufferRequest {
  rmemMax?: string;
  wmemMax?: string;
  rmemDefault?: string;
  wmemDefault?: string;
  tcpRmemMax?: string;
  tcpWmemMax?: string;
}

export interface ReapplyReport {
  repaired: string[];
  failures: string[];
}

const LOCK_TIMEOUT_MS = 60_000;
const MAX_VALUE_LENGTH = 4096;

/**
 * `volt tune`: network sysctls, validated against the kernel by writing them,
 * persisted in <root>/etc/sysctl.d/90-volt.conf (for boot) and recorded in
 * <root>/var/lib/volt/tuning.json (with the value each key had before volt).
 *
 * Every change: validate names, scope and values → lock → write the kernel, each
 * write undone if a later step fails → write the conf file → write the record.
 * Bad input leaves the kernel and both files as they were.
 */
export class TuneService {
  private readonly sysctl: Sysctl;

  constructor(private readonly d: TuneDeps) {
    this.sysctl = d.sysctl ?? new Sysctl();
  }

  get confFile(): string {
    return this.d.paths.sysctlConfFile;
  }

  // ---- reading -----------------------------------------------------------------------------

  /** `tune sysctl get`: any readable key (not only net.*); a group lists every key in it. */
  get(inputs: string[]): SysctlView[] {
    if (inputs.length === 0) throw new UserInputError('get: name at least one key', { code: 'E_ARG_MISSING', suggestions: ['volt tune sysctl get net.ipv4.ip_forward'] });
    const record = this.load();
    const out: SysctlView[] = [];
    for (const input of inputs) {
      const what = `get ${input}`;
      const key = this.parseKey(input, what);
      const kind = this.sysctl.kind(key);
      if (kind === 'missing') throw this.unknownKey(key, `get ${key.name}`);
      if (kind === 'write-only') {
        throw new UserInputError(`get ${key.name}: the key is write-only (an action, like a cache flush): it has no value to read`, { code: 'E_SYSCTL_WRITE_ONLY' });
      }
      if (kind === 'group') {
        const keys = this.sysctl.keysUnder(key.components).filter((k) => this.sysctl.kind(k) !== 'write-only');
        for (const k of keys) out.push(this.view(k, record.sysctls[k.name]));
        continue;
      }
      out.push(this.view(key, record.sysctls[key.name]));
    }
    return out;
  }

  /** `tune sysctl list`: the keys volt manages, with their live values. */
  list(): TuningView {
    const record = this.load();
    const settings = Object.keys(record.sysctls)
      .sort(compareKeys)
      .map((name) => this.view(this.storedKey(name), record.sysctls[name]));
    return { namespace: this.namespace(), file: this.confFile, settings, drift: this.drift(record, settings) };
  }

  /** `tune net show`: the network keys that matter for throughput and forwarding, plus every key volt manages. */
  show(): TuningView {
    const record = this.load();
    const names = [...NETWORK_KEYS.map((k) => k.key), ...Object.keys(record.sysctls).sort(compareKeys)];
    const about = new Map(NETWORK_KEYS.map((k) => [k.key, k.about]));
    const settings = [...new Set(names)].map((name) => ({ ...this.view(this.storedKey(name), record.sysctls[name]), ...(about.has(name) ? { about: about.get(name) } : {}) }));
    return { namespace: this.namespace(), file: this.confFile, settings, drift: this.drift(record, settings.filter((s) => s.managed !== undefined)) };
  }

  // ---- changing ----------------------------------------------------------------------------

  /** `tune sysctl set`: one or more keys, all or nothing. */
  async set(requests: { key: string; value: string }[]): Promise<SysctlChange[]> {
    const planned = requests.map((r) => {
      const key = this.writableKey(r.key, `set ${r.key}`);
      return { key, value: this.checkValue(key, r.value, `set ${key.name}`) };
    });
    const seen = new Set<string>();
    for (const p of planned) {
      if (seen.has(p.key.name)) throw new UserInputError(`set ${p.key.name}: given twice`, { code: 'E_DUPLICATE' });
      seen.add(p.key.name);
    }
    return this.locked(async () => {
      const record = this.load();
      const changes: SysctlChange[] = [];
      const steps: Step[] = planned.map((p) => {
        let before = '';
        return {
          what: `set ${p.key.name}`,
          apply: async () => {
            before = this.sysctl.read(p.key);
            this.writeOrThrow(p.key, p.value, before, `set ${p.key.name}`);
            const after = this.sysctl.read(p.key);
            const prior = record.sysctls[p.key.name];
            changes.push({
              key: p.key.name,
              value: after,
              before,
              previous: prior ? prior.previous : before,
              ...(after !== normalizeSysctlValue(p.value) ? { requested: p.value } : {}),
              changed: after !== before,
            });
          },
          undo: async () => this.putBack(p.key, before, `set ${p.key.name}`),
        };
      });
      steps.push(...this.persistSteps(record, (next) => {
        const now = this.now();
        for (const c of changes) {
          const prior = next.sysctls[c.key];
          if (prior && prior.value === c.value) continue;
          next.sysctls[c.key] = {
            value: c.value,
            ...(c.previous !== undefined ? { previous: c.previous } : {}),
            setAt: prior?.setAt ?? now,
            updatedAt: now,
          };
        }
      }));
      await applySteps(steps, this.d.warn);
      return changes;
    });
  }

  /**
   * `tune net buffers`: socket buffer limits, sizes with K/M/G. The TCP maxima change
   * only the third field of tcp_rmem/tcp_wmem ("min default max").
   */
  async buffers(req: BufferRequest): Promise<SysctlChange[]> {
    const what = 'tune net buffers';
    const core: { flag: string; key: string; raw?: string }[] = [
      { flag: 'rmem-max', key: 'net.core.rmem_max', raw: req.rmemMax },
      { flag: 'wmem-max', key: 'net.core.wmem_max', raw: req.wmemMax },
      { flag: 'rmem-default', key: 'net.core.rmem_default', raw: req.rmemDefault },
      { flag: 'wmem-default', key: 'net.core.wmem_default', raw: req.wmemDefault },
    ];
    const tcp: { flag: string; key: string; raw?: string }[] = [
      { flag: 'tcp-rmem-max', key: 'net.ipv4.tcp_rmem', raw: req.tcpRmemMax },
      { flag: 'tcp-wmem-max', key: 'net.ipv4.tcp_wmem', raw: req.tcpWmemMax },
    ];
    if ([...core, ...tcp].every((f) => f.raw === undefined)) {
      throw new UserInputError(`${what}: nothing to change`, {
        code: 'E_ARG_MISSING',
        suggestions: ['give at least one of --rmem-max, --wmem-max, --rmem-default, --wmem-default, --tcp-rmem-max, --tcp-wmem-max'],
      });
    }
    const sizes = new Map<string, number>();
    for (const f of [...core, ...tcp]) if (f.raw !== undefined) sizes.set(f.flag, parseSize(f.raw, `${what} --${f.flag}`));

    const requests: { key: string; value: string }[] = [];
    for (const f of core) {
      const n = sizes.get(f.flag);
      if (n !== undefined) requests.push({ key: f.key, value: String(n) });
    }
    // A default above the maximum would be clamped by nothing: refuse it, whichever side changes.
    for (const dir of ['rmem', 'wmem'] as const) {
      const maxFlag = `${dir}-max`;
      const defFlag = `${dir}-default`;
      if (!sizes.has(maxFlag) && !sizes.has(defFlag)) continue;
      const max = sizes.get(maxFlag) ?? this.liveNumber(`net.core.${dir}_max`);
      const def = sizes.get(defFlag) ?? this.liveNumber(`net.core.${dir}_default`);
      if (max !== undefined && def !== undefined && def > max) {
        const maxWhat = sizes.has(maxFlag) ? `--${maxFlag} ${formatSize(max)}` : `the current net.core.${dir}_max (${formatSize(max)})`;
        const defWhat = sizes.has(defFlag) ? `--${defFlag} ${formatSize(def)}` : `the current net.core.${dir}_default (${formatSize(def)})`;
        throw new UserInputError(`${what}: ${defWhat} is larger than ${maxWhat}`, {
          code: 'E_BUFFER_ORDER',
          suggestions: [`raise --${maxFlag} as well, or choose a smaller --${defFlag}`],
        });
      }
    }
    for (const f of tcp) {
      const n = sizes.get(f.flag);
      if (n === undefined) continue;
      const key = this.writableKey(f.key, `${what} --${f.flag}`);
      const fields = this.sysctl.read(key).split(' ');
      if (fields.length !== 3) {
        throw new DriverError(`${what} --${f.flag}: ${f.key} is "${fields.join(' ')}", expected three numbers (min default max)`, { code: 'E_KERNEL' });
      }
      const def = Number(fields[1]);
      if (n < def) {
        throw new UserInputError(`${what}: --${f.flag} ${formatSize(n)} is smaller than the TCP default buffer ${formatSize(def)} (${f.key} is "min default max": ${fields.join(' ')})`, {
          code: 'E_BUFFER_ORDER',
          suggestions: [`use at least ${formatSize(def)}, or set all three with \`volt tune sysctl set ${f.key} "MIN DEFAULT MAX"\``],
        });
      }
      requests.push({ key: f.key, value: `${fields[0]} ${fields[1]} ${n}` });
    }
    return this.set(requests);
  }

  /**
   * `tune sysctl unset`: stop managing a key. With `restore`, the live value goes back to what
   * it was before volt first set it — only if it still holds volt's value (someone else's later
   * change is left alone).
   */
  async unset(input: string, restore: boolean): Promise<UnsetResult> {
    const key = this.parseKey(input, `unset ${input}`);
    const what = `unset ${key.name}`;
    return this.locked(async () => {
      const record = this.load();
      const t = record.sysctls[key.name];
      if (!t) {
        const managed = Object.keys(record.sysctls).sort(compareKeys);
        throw new NotFoundError(`${what}: volt does not manage this key`, {
          code: 'E_SYSCTL_NOT_MANAGED',
          suggestions: [managed.length > 0 ? `volt manages: ${managed.join(', ')}` : 'volt manages no sysctls yet (`volt tune sysctl list`)'],
        });
      }
      const result: UnsetResult = { key: key.name, value: t.value, ...(t.previous !== undefined ? { previous: t.previous } : {}) };
      const steps: Step[] = [];
      const kind = this.sysctl.kind(key);
      const live = kind === 'setting' || kind === 'read-only' ? this.sysctl.read(key) : undefined;
      result.live = live;
      if (!restore) result.note = 'left at its current value (--no-restore)';
      else if (t.previous === undefined) result.note = 'no earlier value was recorded: left as it is';
      else if (live === undefined) result.note = 'not present in this network namespace: nothing to restore';
      else if (kind !== 'setting') result.note = `${this.readOnlyWhy()}: left as it is`;
      else if (live !== t.value) result.note = `left at ${live}: changed since volt set ${t.value}`;
      else if (live !== t.previous) {
        const previous = t.previous;
        steps.push({
          what: `restore ${key.name}`,
          apply: async () => {
            this.writeOrThrow(key, previous, live, `${what}: restore ${previous}`);
            result.live = this.sysctl.read(key);
            result.restored = result.live;
          },
          undo: async () => this.putBack(key, live, what),
        });
      }
      steps.push(...this.persistSteps(record, (next) => delete next.sysctls[key.name]));
      await applySteps(steps, this.d.warn);
      return result;
    });
  }

  /**
   * For `volt net up`: put every managed key back to the value volt set, and the conf file
   * back to the record. Per-key failures are reported, not thrown (like the rest of `up`).
   */
  async reapply(): Promise<ReapplyReport> {
    if (!fs.existsSync(this.d.paths.tuningFile) && !fs.existsSync(this.confFile)) return { repaired: [], failures: [] };
    return this.locked(async () => {
      const record = this.load();
      const repaired: string[] = [];
      const failures: string[] = [];
      for (const name of Object.keys(record.sysctls).sort(compareKeys)) {
        const want = record.sysctls[name]!.value;
        const key = this.storedKey(name);
        const kind = this.sysctl.kind(key);
        if (kind !== 'setting') {
          failures.push(`sysctl ${name}: ${kind === 'missing' ? 'not present in this network namespace' : this.readOnlyWhy()}`);
          continue;
        }
        const live = this.sysctl.read(key);
        if (live === want) continue;
        const w = this.sysctl.write(key, want);
        const after = this.sysctl.read(key);
        if (w.ok && after === want) repaired.push(`sysctl ${name} was ${live}, set back to ${want}`);
        else failures.push(`sysctl ${name}: the kernel ${w.ok ? `stored ${after}` : `refused ${want} (${w.errno}: ${w.message})`}`);
      }
      const entries = tuningEntries(record);
      const want = entries.length === 0 ? undefined : renderSysctlConf(entries);
      if (readIfExists(this.confFile) !== want) {
        restoreFile(this.confFile, want);
        repaired.push(`${this.confFile} did not match volt's record: ${want === undefined ? 'removed' : 'rewritten'}`);
      }
      return { repaired, failures };
    });
  }

  // ---- helpers -----------------------------------------------------------------------------

  private load(): TuningRecord {
    return loadTuning(this.d.paths.tuningFile);
  }

  private now(): string {
    return this.d.now ? this.d.now() : new Date().toISOString();
  }

  private namespace(): TuningView['namespace'] {
    return this.sysctl.inRootNetns() ? 'root' : 'non-root';
  }

  /** Steps that write the conf file and the record for `mutate(record)`, each undone on a later failure. */
  private persistSteps(record: TuningRecord, mutate: (next: TuningRecord) => void): Step[] {
    let next: TuningRecord = record;
    let confBefore: string | undefined;
    let confWritten = false;
    return [
      {
        what: `write ${this.confFile}`,
        apply: async () => {
          next = { schemaVersion: record.schemaVersion, sysctls: { ...record.sysctls } };
          mutate(next);
          const entries = tuningEntries(next);
          const text = entries.length === 0 ? undefined : renderSysctlConf(entries);
          confBefore = readIfExists(this.confFile);
          if (confBefore === text) return;
          if (text === undefined) removeFile(this.confFile);
          else writeFileAtomic(this.confFile, text);
          confWritten = true;
        },
        undo: async () => {
          if (confWritten) restoreFile(this.confFile, confBefore);
        },
      },
      {
        what: `write ${this.d.paths.tuningFile}`,
        apply: async () => {
          const text = renderTuning(next);
          if (readIfExists(this.d.paths.tuningFile) !== text) writeFileAtomic(this.d.paths.tuningFile, text);
        },
      },
    ];
  }

  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    const file = this.d.paths.tuningLockFile;
    fs.mkdirSync(this.d.paths.stateDir, { recursive: true, mode: 0o755 });
    const timeout = this.d.lockTimeoutMs ?? LOCK_TIMEOUT_MS;
    const { lockExclusive, LockTimeoutError } = await import('@volt/native');
    let lock;
    try {
      lock = await lockExclusive(file, timeout);
    } catch (e: unknown) {
      if (e instanceof LockTimeoutError) {
        throw new ConflictError(`lock tuning: another volt has held ${file} for ${Math.round(timeout / 1000)} s`, {
          code: 'E_LOCKED',
          suggestions: ['wait for the other volt command to finish', `find it with \`fuser ${file}\``],
        });
      }
      throw e;
    }
    try {
      return await fn();
    } finally {
      lock.release();
    }
  }

  private parseKey(input: string, what: string): SysctlKey {
    const key = parseSysctlKey(input);
    if (!key) {
      throw new UserInputError(`${what}: not a sysctl name`, {
        code: 'E_SYSCTL_NAME',
        suggestions: ['names look like net.core.somaxconn (or net/ipv4/conf/eth0.100/forwarding when a part has a dot)'],
      });
    }
    return key;
  }

  /** A key from volt's record (already canonical). */
  private storedKey(name: string): SysctlKey {
    return parseSysctlKey(name) ?? { components: [name], name };
  }

  /** A key volt may write here: in scope, present, a setting, writable from this namespace. */
  private writableKey(input: string, what: string): SysctlKey {
    const key = this.parseKey(input, what);
    const w = what.replace(input, key.name);
    if (key.components[0] !== WRITABLE_TREE) {
      throw new UserInputError(`${w}: volt changes network sysctls (net.*) only`, {
        code: 'E_SYSCTL_SCOPE',
        suggestions: [`set ${key.name} with sysctl(8) and a file of your own in /etc/sysctl.d/`],
      });
    }
    const kind = this.sysctl.kind(key);
    switch (kind) {
      case 'missing':
        throw this.unknownKey(key, w);
      case 'group': {
        const children = this.sysctl.keysUnder(key.components).slice(0, 3).map((k) => k.name);
        throw new UserInputError(`${w}: ${key.name} is a group of keys, not a key`, {
          code: 'E_SYSCTL_GROUP',
          suggestions: [children.length > 0 ? `keys in it: ${children.join(', ')}…` : `list them with \`volt tune sysctl get ${key.name}\``],
        });
      }
      case 'write-only':
        throw new UserInputError(`${w}: the key is write-only (an action, like a cache flush), not a setting volt can persist`, {
          code: 'E_SYSCTL_WRITE_ONLY',
          suggestions: [`trigger it once with \`sysctl -w ${key.name}=…\``],
        });
      case 'read-only':
        throw new UserInputError(`${w}: ${this.readOnlyWhy()}`, {
          code: 'E_SYSCTL_READ_ONLY',
          suggestions: this.sysctl.inRootNetns()
            ? [`see the current value with \`volt tune sysctl get ${key.name}\``]
            : ['run volt in the host’s root network namespace to change it for the whole machine'],
        });
      default:
        return key;
    }
  }

  private readOnlyWhy(): string {
    return this.sysctl.inRootNetns()
      ? 'the key is read-only'
      : 'the key is read-only in this network namespace (the kernel lets only the root namespace change it)';
  }

  private unknownKey(key: SysctlKey, what: string): VoltError {
    if (GLOBAL_NET_KEYS.has(key.name) && !this.sysctl.inRootNetns()) {
      return new NotFoundError(`${what}: the key is global to the machine, and the kernel shows it only in the root network namespace; volt runs in another one`, {
        code: 'E_SYSCTL_GLOBAL',
        suggestions: ['run volt in the host’s root network namespace to read or change it'],
      });
    }
    const top = this.sysctl.kind({ components: [key.components[0]!], name: key.components[0]! }) === 'group' ? key.components[0]! : WRITABLE_TREE;
    const near = nearMatches(key.name, this.sysctl.keysUnder([top]).map((k) => k.name));
    return new NotFoundError(`${what}: no such key (${this.sysctl.pathOf(key)} does not exist)`, {
      code: 'E_SYSCTL_UNKNOWN',
      suggestions: [
        near.length === 1 ? `did you mean ${near[0]}?` : near.length > 1 ? `did you mean one of: ${near.join(', ')}?` : `list what there is with \`volt tune sysctl get ${top}\``,
      ],
    });
  }

  /** The value as it will be written: byte-size keys take 16M; no line breaks or control characters. */
  private checkValue(key: SysctlKey, raw: string, what: string): string {
    if (/[\0-\x08\x0a-\x1f\x7f]/.test(raw)) {
      throw new UserInputError(`${what}: the value contains a line break or control character`, { code: 'E_SYSCTL_VALUE' });
    }
    const value = normalizeSysctlValue(raw);
    if (value === '') throw new UserInputError(`${what}: the value is empty`, { code: 'E_SYSCTL_VALUE' });
    if (value.length > MAX_VALUE_LENGTH) throw new UserInputError(`${what}: the value is longer than ${MAX_VALUE_LENGTH} characters`, { code: 'E_SYSCTL_VALUE' });
    if (BYTE_SIZE_KEYS.has(key.name)) return String(parseSize(value, what));
    return value;
  }

  private liveNumber(name: string): number | undefined {
    const key = this.storedKey(name);
    if (this.sysctl.kind(key) === 'missing') return undefined;
    const n = Number(this.sysctl.read(key));
    return Number.isFinite(n) ? n : undefined;
  }

  /** Write, or put `before` back (a vector such as tcp_rmem may be half-written) and throw a clear error. */
  private writeOrThrow(key: SysctlKey, value: string, before: string, what: string): void {
    const w = this.sysctl.write(key, value);
    if (w.ok) return;
    this.putBack(key, before, what);
    if (w.errno === 'EINVAL' || w.errno === 'ERANGE' || w.errno === 'ENOENT' || w.errno === 'EOVERFLOW') {
      const hints = [`the current value is ${before === '' ? '(empty)' : before}`];
      if (before.split(' ').length === 3 && /^[0-9 ]+$/.test(before)) hints.push('it takes three numbers: min default max');
      if (key.name.endsWith('congestion_control')) {
        const avail = this.storedKey('net.ipv4.tcp_available_congestion_control');
        if (this.sysctl.kind(avail) !== 'missing') hints.push(`available here: ${this.sysctl.read(avail)}`);
      }
      throw new UserInputError(`${what}: the kernel refused "${value}" (${w.errno}: ${w.message})`, { code: 'E_SYSCTL_VALUE', suggestions: hints });
    }
    throw new DriverError(`${what}: the kernel refused the write (${w.errno}: ${w.message})`, {
      code: w.errno === 'EACCES' || w.errno === 'EPERM' ? 'E_SYSCTL_DENIED' : 'E_KERNEL',
      suggestions: w.errno === 'EACCES' || w.errno === 'EPERM' ? ['run volt as root, in the network namespace you mean to tune'] : [],
    });
  }

  /** Put a key back to `before` if it is not there already; a failure is a warning (we are already failing). */
  private putBack(key: SysctlKey, before: string, what: string): void {
    try {
      if (this.sysctl.read(key) === before) return;
    } catch (e: unknown) {
      void e;
    }
    const w = this.sysctl.write(key, before);
    if (!w.ok) this.d.warn(`${what}: could not put back ${key.name} = ${before} (${w.errno}: ${w.message})`);
  }

  private view(key: SysctlKey, t: TunedSysctl | undefined): SysctlView {
    const kind = this.sysctl.kind(key);
    let live: string | undefined;
    if (kind === 'setting' || kind === 'read-only') {
      try {
        live = this.sysctl.read(key);
      } catch (e: unknown) {
        void e;
      }
    }
    let note: string | undefined;
    if (kind === 'missing') {
      note = GLOBAL_NET_KEYS.has(key.name) && !this.sysctl.inRootNetns() ? 'global: shown only in the root network namespace' : 'not present in this network namespace';
    } else if (kind === 'read-only') note = this.sysctl.inRootNetns() ? 'read-only' : 'read-only in this network namespace';
    const status: SysctlView['status'] = !t ? 'unmanaged' : live === undefined ? 'missing' : live === t.value ? 'ok' : 'drift';
    return {
      key: key.name,
      ...(live !== undefined ? { live } : {}),
      ...(t ? { managed: t.value, ...(t.previous !== undefined ? { previous: t.previous } : {}), setAt: t.setAt } : {}),
      status,
      writable: kind === 'setting',
      ...(note ? { note } : {}),
    };
  }

  private drift(record: TuningRecord, managed: SysctlView[]): string[] {
    const out: string[] = [];
    for (const v of managed) {
      if (v.status === 'drift') out.push(`${v.key} is ${v.live} in the kernel, volt set ${v.managed}`);
      if (v.status === 'missing') out.push(`${v.key} (volt set ${v.managed}) is ${v.note ?? 'not present in this network namespace'}`);
    }
    const text = readIfExists(this.confFile);
    const inFile = text === undefined ? new Map<string, string>() : parseSysctlConf(text);
    for (const [key, t] of Object.entries(record.sysctls).sort(([a], [b]) => compareKeys(a, b))) {
      const f = inFile.get(key);
      if (f === undefined) out.push(`${this.confFile} lacks ${key} = ${t.value}`);
      else if (f !== t.value) out.push(`${this.confFile} says ${key} = ${f}, volt set ${t.value}`);
    }
    for (const key of inFile.keys()) if (!record.sysctls[key]) out.push(`${this.confFile} sets ${key}, which volt's record does not have`);
    return out;
  }
}

/**
 * `volt net up` after its networks: re-apply persisted tuning (per-bridge keys need their
 * bridge) and fold what was repaired into its report; a key that cannot be put back fails `up`.
 */
export async function upWithTuning<R extends { drift: string[]; applied: boolean }>(report: R, deps: TuneDeps): Promise<R> {
  const tuned = await new TuneService(deps).reapply();
  if (tuned.failures.length > 0) {
    throw new DriftError(`re-apply tuning: ${tuned.failures.length} sysctl(s) failed: ${tuned.failures.join('; ')}`, {
      code: 'E_UP_FAILED',
      suggestions: ['see `volt tune net show`; `volt tune sysctl unset KEY` stops managing a key that cannot be set here'],
    });
  }
  if (tuned.repaired.length === 0) return report;
  return { ...report, drift: [...report.drift, ...tuned.repaired], applied: true };
}
