import * as fs from 'node:fs';
import { DriverError, errorMessage } from '@volt/sdk';

/** A text file's content, or undefined when it does not exist; any other failure is a DriverError naming the file. */
export function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DriverError(`read ${file}: ${errorMessage(e)}`, { code: 'E_READ', cause: e });
  }
}
