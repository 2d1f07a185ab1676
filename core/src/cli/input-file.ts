import * as fs from 'node:fs';
import { UserInputError } from '@volt/sdk';

/** A file named by `-f FILE` (or "-" for stdin): its text, and how messages should name it. */
export function readInputFile(file: string): { text: string; source: string } {
  try {
    return { text: fs.readFileSync(file === '-' ? 0 : file, 'utf8'), source: file === '-' ? 'stdin' : file };
  } catch (e: unknown) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserInputError(`read ${file}: ${code ?? String(e)}`, {
      code: 'E_FILE_UNREADABLE',
      suggestions: code === 'ENOENT' ? ['check the path; "-" reads from stdin'] : [],
    });
  }
}
