/**
 * Settles as `promise` does, or rejects with `expired()` after `ms`, whichever comes first; the timer is
 * cleared either way. The work itself goes on (nothing here can cancel it): the caller stops waiting.
 */
export async function withinMs<T>(promise: Promise<T>, ms: number, expired: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(expired()), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
