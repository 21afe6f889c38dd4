#!/usr/bin/env node
// The `qga-mqtt` command (package.json "bin"). A committed file with its executable bit, because npm links
// a package's bin only if its file exists: pointing "bin" at dist/src/main.js, which exists after a build
// only (and without that bit, as tsc writes it), made `npx qga-mqtt` "not found" in a fresh clone.
//
// It runs the build when there is one: the packed package (npm pack, npm install -g) has only that, and no
// tsx. Else, in a clone after `npm ci`, the TypeScript sources through tsx, in this same process (tsx's
// own command would start a second one, which the signals sent to this one would not reach).
import { existsSync } from "node:fs";

const built = new URL("../dist/src/main.js", import.meta.url);
const source = new URL("../src/main.ts", import.meta.url);

if (existsSync(built)) {
  await import(built.href);
} else if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(source.href);
} else {
  process.stderr.write("qga-mqtt: dist/src/main.js is missing: build it with `npm run build`\n");
  process.exit(70);
}
