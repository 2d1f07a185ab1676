import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConflictError, DriverError } from '@volt/sdk';
import type { VoltPaths } from '@volt/sdk';
import { emptyState, STATE_SCHEMA_VERSION, type PendingRecord, type VoltState } from './types';

// Parallel commands queue on the lock one whole command at a time: the last of 20 parallel connects on a
// loaded machine waits for the 19 before it, which is more than a minute at 3 s each.
const LOCK_TIMEOUT_MS = 300_000;

/** The intent journal's file (docs/state-and-recovery.md): the pending records, next to state.json. */
export function journalFileOf(stateFile: string): string {
  return path.join(path.dirname(stateFile), 'journal.json');
}

/**
 * Desired state on disk. Reads need no lock (writes are atomic renames);
 * every mutation runs inside `transaction`, which holds an exclusive flock so
 * parallel `volt` invocations serialise instead of overwriting each other.
 *
 * Two files: state.json (everything but the pending records) and journal.json (the pending
 * records of the intent journal, only while there are any). A journaled change of a large state
 * (10,000 firewall rules: 3 MB) writes its small record to the journal at each step and the
 * state file once, at the commit. Commit order: the state file first, then the journal, so a
 * crash in between leaves the result committed *and* its record, which settles (rolled forward,
 * every step done) to the same result; never a record gone with its result missing.
 */
export class StateStore {
  /** The draft of the transaction this process runs now, and the texts last written for it. */
  private active?: { draft: VoltState; written: string; journal: string };
  private readonly journalFile: string;

  constructor(private readonly paths: VoltPaths) {
    this.journalFile = journalFileOf(paths.stateFile);
  }

  /**
   * Inside a transaction: write the draft as it is now (fsync'd), keeping the lock. The journal
   * (journal.ts) uses it to make a pending record durable before the kernel changes.
   * `journalOnly`: the caller changed nothing but pending records since the last write (the state
   * part is not even serialised: what matters at 10,000 rules).
   */
  checkpoint(opts: { journalOnly?: boolean } = {}): void {
    const a = this.active;
    if (!a) throw new Error('state checkpoint outside a transaction');
    this.flush(a, opts.journalOnly === true);
  }

  read(): VoltState {
    return this.load().state;
  }

  /** State file first, then the journal (see the class comment). */
  private flush(a: NonNullable<StateStore['active']>, journalOnly: boolean): void {
    if (!journalOnly) {
      const next = serialise(a.draft);
      if (next !== a.written) {
        this.write(this.paths.stateFile, next);
        a.written = next;
      }
    }
    const j = serialiseJournal(a.draft.pending);
    if (j !== a.journal) {
      if (j === '') this.remove(this.journalFile);
      else this.write(this.journalFile, j);
      a.journal = j;
    }
  }

  /** The state (with the journal's pending records) and the exact texts it was parsed from ('' when a file is absent). */
  private load(): { state: VoltState; text: string; journal: string } {
    const text = readOr(this.paths.stateFile);
    const journal = readOr(this.journalFile);
    const state = text === '' ? emptyState() : this.parse(text);
    const legacy = state.pending !== undefined;
    const pending = [...(state.pending ?? []), ...this.parseJournal(journal)];
    // A record both in an older volt's state file and the journal counts once.
    const unique = pending.filter((p, i) => pending.findIndex((q) => q.id === p.id) === i);
    if (unique.length > 0) state.pending = unique;
    else delete state.pending;
    // A state file that still holds records (written by an older volt) is rewritten without them at the next write.
    return { state, text: legacy ? '' : text, journal };
  }

  private parseJournal(text: string): PendingRecord[] {
    if (text === '') return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new DriverError(`read intent journal ${this.journalFile}: not valid JSON`, {
        code: 'E_STATE_CORRUPT',
        suggestions: ['it holds only interrupted operations: move it away, then run `volt net up` and `volt net check` (leftovers are reported)'],
      });
    }
    const p = (parsed as { pending?: unknown }).pending;
    return Array.isArray(p) ? (p as PendingRecord[]) : [];
  }

  private parse(text: string): VoltState {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new DriverError(`read state ${this.paths.stateFile}: not valid JSON`, {
        code: 'E_STATE_CORRUPT',
        suggestions: ['restore the file from a backup, or move it away and re-create networks'],
      });
    }
    const s = parsed as Partial<VoltState>;
    if (typeof s.schemaVersion !== 'number' || typeof s.networks !== 'object' || s.networks === null) {
      throw new DriverError(`read state ${this.paths.stateFile}: missing schemaVersion or networks`, { code: 'E_STATE_CORRUPT' });
    }
    if (s.schemaVersion > STATE_SCHEMA_VERSION) {
      throw new DriverError(
        `read state ${this.paths.stateFile}: schema version ${s.schemaVersion} is newer than this volt understands (${STATE_SCHEMA_VERSION})`,
        { code: 'E_STATE_VERSION', suggestions: ['upgrade volt'] },
      );
    }
    return {
      schemaVersion: STATE_SCHEMA_VERSION,
      networks: s.networks,
      workloads: s.workloads ?? {},
      attachments: s.attachments ?? [],
      ingress: { routes: s.ingress?.routes ?? {} },
      firewall: { rules: s.firewall?.rules ?? [] },
      portForwards: s.portForwards ?? [],
      policies: s.policies ?? {},
      vlans: s.vlans ?? {},
      // Only present while something is pending, so a quiet state file keeps its old shape.
      ...(Array.isArray(s.pending) && s.pending.length > 0 ? { pending: s.pending } : {}),
    };
  }

  /**
   * Lock, load, run `fn` on a private copy, and commit the copy if `fn`
   * returns normally. A throw leaves the file untouched.
   */
  async transaction<T>(fn: (state: VoltState) => Promise<T>, onWait?: () => void): Promise<T> {
    fs.mkdirSync(this.paths.stateDir, { recursive: true, mode: 0o755 });
    const { lockExclusive, LockTimeoutError } = await import('@volt/native');
    let lock;
    try {
      lock = await lockExclusive(this.paths.lockFile, LOCK_TIMEOUT_MS, onWait);
    } catch (e: unknown) {
      if (e instanceof LockTimeoutError) {
        throw new ConflictError(`lock state: another volt has held ${this.paths.lockFile} for ${LOCK_TIMEOUT_MS / 1000} s`, {
          code: 'E_LOCKED',
          suggestions: ['wait for the other volt command to finish', 'find it with `fuser ' + this.paths.lockFile + '`'],
        });
      }
      throw e;
    }
    try {
      // The draft is parsed from the file (a private copy without a clone), and the new text is
      // compared with the old one: one parse and one serialisation per transaction, whatever its size.
      const { state: draft, text, journal } = this.load();
      this.active = { draft, written: text, journal };
      const result = await fn(draft);
      this.flush(this.active, false);
      return result;
    } finally {
      this.active = undefined;
      lock.release();
    }
  }

  private write(file: string, text: string): void {
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    syncDir(path.dirname(file));
  }

  private remove(file: string): void {
    try {
      fs.unlinkSync(file);
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    syncDir(path.dirname(file));
  }
}

function syncDir(dir: string): void {
  const dirFd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

/** The journal's text: one record per line; '' when nothing is pending (the file is removed). */
export function serialiseJournal(pending: readonly PendingRecord[] | undefined): string {
  if (!pending || pending.length === 0) return '';
  return `{"pending": [\n${pending.map((p) => `  ${JSON.stringify(p)}`).join(',\n')}\n]}\n`;
}

/**
 * The file's text: collections (the top level, maps of records, arrays) one entry per line,
 * each record compact — readable and diffable, and a tenth of the cost of indenting every
 * field of 10,000 rules.
 */
export function serialise(state: VoltState): string {
  // The pending records live in the journal file (serialiseJournal).
  const { pending: _pending, ...rest } = state;
  return render(rest, '', 0, true) + '\n';
}

function render(v: unknown, indent: string, depth: number, force = false): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const isArray = Array.isArray(v);
  const entries: [string, unknown][] = isArray ? (v as unknown[]).map((x): [string, unknown] => ['', x]) : Object.entries(v);
  const collection = isArray || entries.every(([, x]) => x !== null && typeof x === 'object');
  if (entries.length === 0 || depth > 3 || !(force || collection)) return JSON.stringify(v);
  const inner = `${indent}  `;
  const body = entries.map(([k, x]) => `${inner}${isArray ? '' : `${JSON.stringify(k)}: `}${render(x, inner, depth + 1)}`).join(',\n');
  return isArray ? `[\n${body}\n${indent}]` : `{\n${body}\n${indent}}`;
}
