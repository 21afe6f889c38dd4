import type { QgaError } from "./errors.js";

/** A sync written to the agent, waiting for its own reply. */
export interface SyncWaiter {
  readonly syncId: number;
  /** Requests sent before this sync: once its reply arrives, theirs never will (the agent answers in order). */
  readonly afterSeq: number;
  readonly promise: Promise<void>;
  /** Resolves the promise, or rejects it with `error`, and stops the timer. */
  readonly settle: (error?: QgaError) => void;
}

/** A waiter for sync `syncId` whose `expired` runs if it is not settled within `timeoutMs`. */
export function syncWaiter(
  syncId: number,
  afterSeq: number,
  timeoutMs: number,
  expired: () => void,
): SyncWaiter {
  let done: (error?: QgaError) => void = () => {};
  const promise = new Promise<void>((resolve, reject) => {
    done = (error) => (error ? reject(error) : resolve());
  });
  // Nobody may be waiting on a background resync; its failure closes the channel, which is reported there.
  promise.catch(() => {});
  const timer = setTimeout(expired, timeoutMs);
  const settle = (error?: QgaError): void => {
    clearTimeout(timer);
    done(error);
  };
  return { syncId, afterSeq, promise, settle };
}
