import { UserInputError } from '@volt/sdk';

/** The buffer sysctls are C ints: 2^31 - 1 is the largest value the kernel can hold. */
export const MAX_SYSCTL_INT = 2_147_483_647;

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * Parse a byte size: a whole number, optionally with K, M or G (binary: 16M =
 * 16777216; "KiB"/"MiB"/"GiB" are accepted too). Anything else is refused
 * rather than guessed: fractions, signs, spaces, leading zeros, "MB" (decimal
 * or binary?), values above `max`.
 */
export function parseSize(text: string, what: string, max: number = MAX_SYSCTL_INT): number {
  const m = /^(0|[1-9][0-9]*)(?:([KkMmGg])(iB)?)?$/.exec(text);
  if (!m) {
    const hint = /^[0-9]+(?:\.[0-9]+)?\s*[KkMmGg][Bb]$/.test(text.trim())
      ? `"MB" is ambiguous: write ${text.trim().replace(/\s*[Bb]$/, '')} (binary, ×1024) or the number of bytes`
      : 'write a whole number of bytes, or one with K, M or G (binary): 212992, 256K, 16M, 1G';
    throw new UserInputError(`${what}: "${text}" is not a size`, { code: 'E_BAD_SIZE', suggestions: [hint] });
  }
  const n = Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()]!;
  if (!Number.isSafeInteger(n) || n > max) {
    throw new UserInputError(`${what}: ${text} is too large (at most ${max} bytes${max === MAX_SYSCTL_INT ? ', 2G - 1' : ''})`, {
      code: 'E_BAD_SIZE',
      suggestions: [`the kernel stores this value as a C int; use at most ${formatSize(Math.floor(max / 1024 ** 2) * 1024 ** 2)}`],
    });
  }
  return n;
}

/** 16777216 → "16M", 212992 → "208K", 1000 → "1000" (exact only: never rounds). */
export function formatSize(n: number): string {
  if (n !== 0 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3}G`;
  if (n !== 0 && n % 1024 ** 2 === 0) return `${n / 1024 ** 2}M`;
  if (n !== 0 && n % 1024 === 0) return `${n / 1024}K`;
  return String(n);
}
