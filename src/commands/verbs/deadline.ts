import { type Settled, within } from "../../async/within.js";
import { WorkerError } from "../../errors.js";
import type { VerbContext } from "./verb.js";

/** The time left before the request's deadline, for the next agent call; `timeout` once it is spent. */
export function remainingMs(context: VerbContext, doing: string): number {
  const left = context.deadline - Date.now();
  if (left <= 0) {
    throw new WorkerError(
      "timeout",
      `the request's timeout of ${context.timeoutMs / 1000} s passed ${doing}`,
    );
  }
  return left;
}

/**
 * The promise's value if it settles before `deadline`, else undefined; the promise itself runs on (its
 * rejection is then ignored here, so the caller must deal with a late outcome where it matters).
 */
export function beforeDeadline<T>(promise: Promise<T>, deadline: number): Promise<Settled<T> | undefined> {
  return within(promise, deadline - Date.now());
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
