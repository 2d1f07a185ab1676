export { lockExclusive, LockTimeoutError } from './flock';
export type { HeldLock } from './flock';
export { errnoName } from './libc';
