import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The package's version, from the package.json above this file (src/ under tsx, dist/src/ when built). */
export function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "qga-mqtt" && pkg.version) return pkg.version;
    } catch {
      // not here; one folder up
    }
    dir = path.dirname(dir);
  }
  return "0.0.0";
}
