import { accessSync, constants } from "node:fs";
import path from "node:path";

/** Where a program is on PATH (plus the sbin folders Debian puts daemons in), or undefined. */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/sbin", "/usr/local/sbin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * For `test(name, { skip: skipWithout("qemu-ga") }, ...)`: false when the tool is there. Outside CI a
 * missing tool skips the test with the reason; in CI (`CI=true`) a missing tool is a failure, never a skip.
 */
export function skipWithout(...tools: string[]): false | string {
  const missing = tools.filter((tool) => !findTool(tool));
  if (missing.length === 0) return false;
  const reason = `needs ${missing.join(", ")} (apt-get install the package; .ci/run does)`;
  if (process.env.CI === "true") throw new Error(`CI must not skip: ${reason}`);
  return reason;
}
