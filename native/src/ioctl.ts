import { errno, errnoName, libc } from './libc';

/**
 * Linux ioctl request numbers, built the way <asm-generic/ioctl.h> builds them:
 * dir (2 bits) | size (14 bits) | type (8 bits) | nr (8 bits).
 */
const IOC_NRBITS = 8;
const IOC_TYPEBITS = 8;
const IOC_SIZEBITS = 14;
const IOC_NRSHIFT = 0;
const IOC_TYPESHIFT = IOC_NRSHIFT + IOC_NRBITS;
const IOC_SIZESHIFT = IOC_TYPESHIFT + IOC_TYPEBITS;
const IOC_DIRSHIFT = IOC_SIZESHIFT + IOC_SIZEBITS;

export const IOC_NONE = 0;
export const IOC_WRITE = 1;
export const IOC_READ = 2;

export function ioc(dir: number, type: number, nr: number, size: number): number {
  // >>> 0: the result is an unsigned 32-bit number (dir READ sets the top bit).
  return ((dir << IOC_DIRSHIFT) | (size << IOC_SIZESHIFT) | (type << IOC_TYPESHIFT) | (nr << IOC_NRSHIFT)) >>> 0;
}
export const io = (type: number, nr: number): number => ioc(IOC_NONE, type, nr, 0);
export const ior = (type: number, nr: number, size: number): number => ioc(IOC_READ, type, nr, size);
export const iow = (type: number, nr: number, size: number): number => ioc(IOC_WRITE, type, nr, size);
export const iowr = (type: number, nr: number, size: number): number => ioc(IOC_READ | IOC_WRITE, type, nr, size);

type OpenFn = (path: string, flags: number) => number;
type CloseFn = (fd: number) => number;
type IoctlFn = (fd: number, request: number, ...args: unknown[]) => number;

let openFn: OpenFn | undefined;
let closeFn: CloseFn | undefined;
let ioctlFn: IoctlFn | undefined;

export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
/** Every fd volt opens is close-on-exec: only the QEMU it spawns (through spawn's stdio array) gets it. */
export const O_CLOEXEC = 0o2000000;

/** Names libc.ts does not carry, for the calls made here. */
const MORE_ERRNO_NAMES: Record<number, string> = { 6: 'ENXIO', 12: 'ENOMEM', 24: 'EMFILE', 25: 'ENOTTY', 38: 'ENOSYS', 77: 'EBADFD' };

export function nameOf(code: number): string {
  return MORE_ERRNO_NAMES[code] ?? errnoName(code);
}

/** A failed system call: which call, on what, and the errno by name. */
export class SyscallError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
    detail: string,
  ) {
    super(`${call}${detail ? ` ${detail}` : ''}: ${nameOf(errno)}`);
    this.name = 'SyscallError';
  }

  get errnoName(): string {
    return nameOf(this.errno);
  }
}

/** open(2); throws SyscallError with the errno read right after the call. */
export function sysOpen(path: string, flags: number): number {
  openFn ??= libc().func('int open(const char *path, int flags)') as OpenFn;
  const fd = openFn(path, flags | O_CLOEXEC);
  if (fd < 0) throw new SyscallError('open', errno(), path);
  return fd;
}

/** close(2); closing an fd that is already closed is not an error here. */
export function sysClose(fd: number): void {
  closeFn ??= libc().func('int close(int fd)') as CloseFn;
  closeFn(fd);
}

/** ioctl(2) with a pointer argument (a Buffer the kernel reads and/or fills in place). */
export function sysIoctlPtr(fd: number, request: number, arg: Buffer, what: string): void {
  ioctlFn ??= libc().func('int ioctl(int fd, unsigned long request, ...)') as IoctlFn;
  if (ioctlFn(fd, request, 'uint8_t *', arg) < 0) throw new SyscallError('ioctl', errno(), what);
}

/** ioctl(2) with an integer argument (or none). */
export function sysIoctlInt(fd: number, request: number, arg: number, what: string): void {
  ioctlFn ??= libc().func('int ioctl(int fd, unsigned long request, ...)') as IoctlFn;
  if (ioctlFn(fd, request, 'unsigned long', arg) < 0) throw new SyscallError('ioctl', errno(), what);
}
