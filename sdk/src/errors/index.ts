/**
 * One small hierarchy for every error a user can see. Each carries a stable
 * code (for scripts and docs), an exit code, and suggestions for what to do.
 * Messages read "what we did: why it failed", e.g.
 *   create network "backend": subnet 10.30.0.0/24 overlaps network "db" (10.30.0.0/16)
 */
export interface VoltErrorOptions {
  code: string;
  suggestions?: string[];
  cause?: unknown;
}

export abstract class VoltError extends Error {
  abstract readonly exitCode: number;
  readonly code: string;
  readonly suggestions: string[];

  constructor(message: string, options: VoltErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.suggestions = options.suggestions ?? [];
  }
}

/** Flags, arguments or files the user gave are wrong. Nothing was changed. */
export class UserInputError extends VoltError {
  readonly exitCode = 2;
}

/** Configuration file problems; the message names file:line:column and the key. */
export class ConfigError extends VoltError {
  readonly exitCode = 2;
}

/** The thing named does not exist. */
export class NotFoundError extends VoltError {
  readonly exitCode = 3;
}

/** The request collides with something that exists (name, subnet, lock holder). */
export class ConflictError extends VoltError {
  readonly exitCode = 4;
}

/** A driver or the kernel refused an operation. Completed steps were undone. */
export class DriverError extends VoltError {
  readonly exitCode = 5;
}

/** Desired state and the kernel disagree (`volt net check`). */
export class DriftError extends VoltError {
  readonly exitCode = 6;
}

export function isVoltError(e: unknown): e is VoltError {
  // Duck-typed: a third-party plugin bundles its own copy of core, so instanceof
  // across copies would fail.
  return (
    e instanceof Error &&
    typeof (e as Partial<VoltError>).code === 'string' &&
    typeof (e as Partial<VoltError>).exitCode === 'number'
  );
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
export * from './codes';
