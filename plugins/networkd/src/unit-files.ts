import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DriverError, errorMessage } from '@volt/sdk';
import type { UnitFile } from './units';

/** A unit file as it was before this call changed it, so a failed set-up can put it back. */
export interface PreviousUnit {
  file: string;
  /** undefined: the file did not exist. */
  content: string | undefined;
}

/**
 * Write the units that differ from what is on disk (temporary file, fsync,
 * rename, so networkd never reads half a file) and return what they were.
 * An unchanged unit is not touched: no write, no reload.
 */
export async function writeChangedUnits(dir: string, units: UnitFile[]): Promise<PreviousUnit[]> {
  const changed: PreviousUnit[] = [];
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
    for (const unit of units) {
      const file = path.join(dir, unit.name);
      const before = await readIfExists(file);
      if (before === unit.content) continue;
      await writeAtomic(file, unit.content);
      changed.push({ file, content: before });
    }
    if (changed.length > 0) await syncDir(dir);
    return changed;
  } catch (e: unknown) {
    await restoreUnits(changed);
    throw new DriverError(`write networkd units in ${dir}: ${errorMessage(e)}`, { code: 'E_IO', cause: e });
  }
}

/** Put units back as they were (best effort: used while another error is on its way). */
export async function restoreUnits(previous: PreviousUnit[]): Promise<void> {
  for (const p of [...previous].reverse()) {
    try {
      if (p.content === undefined) await fs.rm(p.file, { force: true });
      else await writeAtomic(p.file, p.content);
    } catch {
      // The original error matters more; check/gc finds what is left.
    }
  }
}

/** Remove units; a missing file is fine. Returns the files that were there. */
export async function removeUnits(dir: string, names: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      await fs.unlink(file);
      removed.push(file);
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new DriverError(`remove ${file}: ${errorMessage(e)}`, { code: 'E_IO', cause: e });
      }
    }
  }
  if (removed.length > 0) await syncDir(dir).catch(() => undefined);
  return removed;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function writeAtomic(file: string, content: string): Promise<void> {
  // The suffix keeps networkd from reading the temporary file (it loads *.netdev / *.network only).
  const tmp = `${file}.${process.pid}.volt-tmp`;
  try {
    const fh = await fs.open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(content, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
  } catch (e: unknown) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
