import * as koffi from 'koffi';

/** The one place libc is loaded; functions are bound lazily on first use. */
let lib: koffi.LibraryHandle | undefined;

export function libc(): koffi.LibraryHandle {
  lib ??= koffi.load('libc.so.6');
  return lib;
}

export function errno(): number {
  return koffi.errno();
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  4: 'EINTR',
  9: 'EBADF',
  11: 'EAGAIN',
  13: 'EACCES',
  16: 'EBUSY',
  17: 'EEXIST',
  19: 'ENODEV',
  22: 'EINVAL',
  95: 'EOPNOTSUPP',
};

export function errnoName(code: number): string {
  return ERRNO_NAMES[code] ?? `errno ${code}`;
}
