import * as fs from 'node:fs';
import * as path from 'node:path';
import { DriverError, errorMessage } from '@volt/sdk';
import { readIfExists } from '../host/files';

/**
 * The two files behind `volt tune`:
 *  - <root>/etc/sysctl.d/90-volt.conf: what systemd-sysctl applies at boot, derived
 *    from the record and rewritten whole on every change;
 *  - <root>/var/lib/volt/tuning.json: volt's record, the source of truth, with what
 *    each key was before volt first set it (so `unset` can restore it).
 */

export interface SysctlEntry {
  key: string;
  value: string;
}

export const SYSCTL_CONF_HEADER = [
  '# Managed by volt (`volt tune`): do not edit; use `volt tune sysctl set|unset`.',
  '# systemd-sysctl applies this file at boot; `volt net up` re-applies it.',
];

/** The file's text: a header, then "key = value" lines sorted by key. */
export function renderSysctlConf(entries: SysctlEntry[]): string {
  const lines = [...SYSCTL_CONF_HEADER];
  for (const e of [...entries].sort((a, b) => compareKeys(a.key, b.key))) {
    if (/[\r\n\0]/.test(e.key) || /[\r\n\0]/.test(e.value) || e.key.trim() === '') {
      throw new DriverError(`write sysctl.d file: refusing a key or value with a line break (${JSON.stringify(e.key)})`, { code: 'E_INTERNAL' });
    }
    lines.push(`${e.key} = ${e.value}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * "key = value" lines as systemd-sysctl reads them: "#" and ";" start comments, a
 * leading "-" (ignore failures) is dropped, the last assignment of a key wins.
 */
export function parseSysctlConf(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim().replace(/^-/, '');
    out.set(key, line.slice(eq + 1).trim().split(/\s+/).join(' '));
  }
  return out;
}

/** Write `text` to `file` so that readers see the old or the new file, never a half-written one. */
export function writeFileAtomic(file: string, text: string, mode = 0o644): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  // A dot-name without ".conf": systemd-sysctl never reads a leftover temp file.
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    const fd = fs.openSync(tmp, 'w', mode);
    try {
      fs.writeSync(fd, text);
      fs.fchmodSync(fd, mode);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e: unknown) {
    fs.rmSync(tmp, { force: true });
    throw new DriverError(`write ${file}: ${errorMessage(e)}`, { code: 'E_WRITE', cause: e });
  }
  syncDir(dir);
}

/** Remove `file` (durably); a missing file is fine. */
export function removeFile(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new DriverError(`remove ${file}: ${errorMessage(e)}`, { code: 'E_WRITE', cause: e });
  }
  syncDir(path.dirname(file));
}

/** The file's text, or undefined when it does not exist. */
export { readIfExists };

/**
 * Put the conf file in the state `entries` describe: written when there are
 * entries, removed when there are none. Returns the previous text (undefined: there
 * was no file) so a caller can put it back.
 */
export function syncSysctlConf(file: string, entries: SysctlEntry[]): string | undefined {
  const before = readIfExists(file);
  if (entries.length === 0) removeFile(file);
  else writeFileAtomic(file, renderSysctlConf(entries));
  return before;
}

/** Restore a file to `text` (undefined: remove it). */
export function restoreFile(file: string, text: string | undefined): void {
  if (text === undefined) removeFile(file);
  else writeFileAtomic(file, text);
}

// ---- volt's record -------------------------------------------------------------------------

export const TUNING_SCHEMA_VERSION = 1;

export interface TunedSysctl {
  /** The value volt set, as the kernel stored it (normalised). */
  value: string;
  /** The live value before volt first set this key; kept across later sets. */
  previous?: string;
  /** When volt first set it, and when last. */
  setAt: string;
  updatedAt: string;
}

export interface TuningRecord {
  schemaVersion: number;
  sysctls: Record<string, TunedSysctl>;
}

export function emptyTuning(): TuningRecord {
  return { schemaVersion: TUNING_SCHEMA_VERSION, sysctls: {} };
}

export function parseTuning(text: string, file: string): TuningRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw corrupt(file, 'not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) throw corrupt(file, 'not an object');
  const p = parsed as { schemaVersion?: unknown; sysctls?: unknown };
  if (typeof p.schemaVersion !== 'number') throw corrupt(file, 'missing schemaVersion');
  if (p.schemaVersion > TUNING_SCHEMA_VERSION) {
    throw new DriverError(`read ${file}: schema version ${p.schemaVersion} is newer than this volt understands (${TUNING_SCHEMA_VERSION})`, {
      code: 'E_STATE_VERSION',
      suggestions: ['upgrade volt'],
    });
  }
  if (typeof p.sysctls !== 'object' || p.sysctls === null || Array.isArray(p.sysctls)) throw corrupt(file, 'missing sysctls');
  const sysctls: Record<string, TunedSysctl> = {};
  for (const [key, v] of Object.entries(p.sysctls as Record<string, unknown>)) {
    const r = v as Partial<TunedSysctl> | null;
    if (r === null || typeof r !== 'object' || typeof r.value !== 'string' || /[\r\n\0]/.test(r.value) || /[\r\n\0=\s]/.test(key)) {
      throw corrupt(file, `bad entry ${JSON.stringify(key)}`);
    }
    sysctls[key] = {
      value: r.value,
      ...(typeof r.previous === 'string' ? { previous: r.previous } : {}),
      setAt: typeof r.setAt === 'string' ? r.setAt : '',
      updatedAt: typeof r.updatedAt === 'string' ? r.updatedAt : typeof r.setAt === 'string' ? r.setAt : '',
    };
  }
  return { schemaVersion: TUNING_SCHEMA_VERSION, sysctls };
}

export function loadTuning(file: string): TuningRecord {
  const text = readIfExists(file);
  return text === undefined ? emptyTuning() : parseTuning(text, file);
}

export function renderTuning(record: TuningRecord): string {
  const sysctls: Record<string, TunedSysctl> = {};
  for (const key of Object.keys(record.sysctls).sort(compareKeys)) sysctls[key] = record.sysctls[key]!;
  const body = Object.entries(sysctls).map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  return `{\n  "schemaVersion": ${TUNING_SCHEMA_VERSION},\n  "sysctls": {${body.length === 0 ? '' : `\n${body.join(',\n')}\n  `}}\n}\n`;
}

export function tuningEntries(record: TuningRecord): SysctlEntry[] {
  return Object.entries(record.sysctls).map(([key, t]) => ({ key, value: t.value }));
}

export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function corrupt(file: string, why: string): DriverError {
  return new DriverError(`read ${file}: ${why}`, {
    code: 'E_TUNING_CORRUPT',
    suggestions: [`fix or remove ${file} (90-volt.conf beside it still holds the values), then run \`volt tune sysctl set\` again`],
  });
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
