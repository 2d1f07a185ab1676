import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConflictError, DriverError } from '@volt/sdk';
import type { VoltPaths } from '@volt/sdk';
import { emptyState, STATE_SCHEMA_VERSION, type VoltState } from './types';

// Parallel commands queue on the lock one whole command at a time: the last of 20 parallel connects on a
// loaded machine waits for the 19 before it, which is more than a minute at 3 s each.
const LOCK_TIMEOUT_MS = 300_000;

/**
 * Desired state on disk. Reads need no lock (writes are atomic renames);
 * every mutation runs inside `transaction`, which holds an exclusive flock so
 * parallel `volt` invocations serialise instead of overwriting each other.
 */
export class StateStore {
  /** The draft of the transaction this process runs now, and the text last written for it. */
  private active?: { draft: VoltState; written: string };

  constructor(private readonly paths: VoltPaths) {}

  /**
   * Inside a transaction: write the draft as it is now (fsync'd), keeping the lock. The journal
   * (journal.ts) uses it to make a pending record durable before the kernel changes.
   */
  checkpoint(): void {
    const a = this.active;
    if (!a) throw new Error('state checkpoint outside a transaction');
    const next = serialise(a.draft);
    if (next !== a.written) {
      this.write(next);
      a.written = next;
    }
  }

  read(): VoltState {
    return this.load().state;
  }

  /** The state and the exact text it was parsed from ('' when there is no file yet). */
  private load(): { state: VoltState; text: string } {
    let text: string;
    try {
      text = fs.readFileSync(this.paths.stateFile, 'utf8');
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: emptyState(), text: '' };
      throw e;
    }
    return { state: this.parse(text), text };
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
      const { state: draft, text } = this.load();
      this.active = { draft, written: text };
      const result = await fn(draft);
      const next = serialise(draft);
      if (next !== this.active.written) this.write(next);
      return result;
    } finally {
      this.active = undefined;
      lock.release();
    }
  }

  private write(text: string): void {
    const file = this.paths.stateFile;
    const tmp = path.join(path.dirname(file), `.state.json.${process.pid}.tmp`);
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    const dirFd = fs.openSync(path.dirname(file), 'r');
    try {
      fs.fsyncSync(dirFd);
    } finally {
      fs.closeSync(dirFd);
    }
  }
}

/**
 * The file's text: collections (the top level, maps of records, arrays) one entry per line,
 * each record compact — readable and diffable, and a tenth of the cost of indenting every
 * field of 10,000 rules.
 */
export function serialise(state: VoltState): string {
  return render(state, '', 0, true) + '\n';
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
