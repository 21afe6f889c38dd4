import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The folder of qga-mqtt's package.json above this file: the repository under tsx (src/dashboard/), the
 * installed package when built (dist/src/dashboard/). dist/ui and ui/ are found from it.
 */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: unknown };
      if (pkg.name === "qga-mqtt") return dir;
    } catch {
      // not here; one folder up
    }
    dir = path.dirname(dir);
  }
  throw new Error("qga-mqtt's package.json was not found above src/dashboard");
}
