/** A promise's value, boxed so that a value of undefined is told apart from the time running out. */
export interface Settled<T> {
  readonly value: T;
}

/**
 * Waits for `promise` at most `ms`: resolves with its value (boxed) or rejects with its error if it settles
 * first, else resolves undefined. The timer is cleared either way, so it keeps nothing alive after the
 * outcome; the work itself goes on (nothing here can cancel it), only the waiting stops.
 */
export async function within<T>(promise: PromiseLike<T>, ms: number): Promise<Settled<T> | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve(promise).then((value) => ({ value })),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** As within(), but a time that runs out rejects with `expired()` instead of resolving undefined. */
export async function withinOrFail<T>(promise: PromiseLike<T>, ms: number, expired: () => Error): Promise<T> {
  const outcome = await within(promise, ms);
  if (outcome === undefined) throw expired();
  return outcome.value;
}
