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
