import { watch } from "node:fs";
import { access } from "node:fs/promises";
import path from "node:path";

/** Resolves when `file` exists: watches its folder instead of polling on a timer. */
export async function waitForPath(file: string, timeoutMs: number): Promise<void> {
  const watcher = watch(path.dirname(file));
  try {
    const appeared = new Promise<void>((resolve) => {
      watcher.on("change", () => {
        access(file).then(resolve, () => {});
      });
    });
    const present = access(file).then(
      () => true,
      () => false,
    );
    if (await present) return;
    await withTimeout(appeared, timeoutMs, `${file} did not appear within ${timeoutMs} ms`);
  } finally {
    watcher.close();
  }
}

/** Rejects with `message` when `promise` has not settled within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Asks `probe` every 100 ms until it says yes; throws `${what} within ${timeoutMs} ms` after the time.
 * For what nothing announces (a daemon starting, a line written inside a guest): where an event exists,
 * await the event instead.
 */
export async function waitUntil(
  what: string,
  timeoutMs: number,
  probe: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
