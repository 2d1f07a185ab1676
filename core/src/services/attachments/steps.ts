import { errorMessage } from '@volt/sdk';

export interface Step {
  /** "create bridge volt-backend" */
  what: string;
  apply(): Promise<void>;
  undo?(): Promise<void>;
}

/**
 * Apply steps in order; when step i fails, undo steps i-1..0 in reverse,
 * report undo failures as warnings, and rethrow the original error.
 */
export async function applySteps(steps: Step[], warn: (m: string) => void): Promise<void> {
  const done: Step[] = [];
  for (const step of steps) {
    try {
      await step.apply();
      done.push(step);
    } catch (e: unknown) {
      for (const d of done.reverse()) {
        if (!d.undo) continue;
        try {
          await d.undo();
        } catch (u: unknown) {
          warn(`undo "${d.what}" after a failure: ${errorMessage(u)}`);
        }
      }
      throw e;
    }
  }
}

/** Run every step even if some fail; throw one error listing all failures. */
export async function runAll(steps: Step[]): Promise<string[]> {
  const failures: string[] = [];
  for (const s of steps) {
    try {
      await s.apply();
    } catch (e: unknown) {
      failures.push(`${s.what}: ${errorMessage(e)}`);
    }
  }
  return failures;
}
