import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { verbNames } from "../../src/commands/verbs/index.js";
import { envSettings } from "../../src/config/env.js";
import { ERROR_CODES } from "../../src/errors.js";

/** The README is part of the interface: every setting, error code and verb it must explain is there. */
const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const spec = (() => {
  try {
    return readFileSync(new URL("../../../shared/spec/mqtt-api.md", import.meta.url), "utf8");
  } catch {
    return undefined;
  }
})();

test("every scalar setting of the schema is in the README's configuration table", () => {
  const missing = envSettings()
    .map((setting) => setting.path.join("."))
    .filter((key) => !readme.includes(`\`${key}\``) && !readme.includes(`${key}\``));
  assert.deepEqual(missing, []);
});

test("every error code is documented, and the contract names no other", (t) => {
  for (const code of ERROR_CODES) assert.ok(readme.includes(`| \`${code}\` |`), code);
  // The contract lives beside the checkout (../shared/spec), not in it: a clean clone alone has no copy.
  if (!spec)
    t.diagnostic("../shared/spec/mqtt-api.md is not beside this checkout: codes not compared with it");
  else {
    const table = spec.slice(spec.indexOf("Error codes"), spec.indexOf("## Status snapshot"));
    const inSpec = [...table.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual([...inSpec].sort(), [...ERROR_CODES].sort());
  }
});

test("every verb of the contract is in the README", () => {
  for (const verb of verbNames) assert.ok(readme.includes(`\`${verb}\``), verb);
});

/** The README's first code block: the commands a newcomer types first. */
const firstLines = (/^```sh\n([\s\S]*?)\n```/m.exec(readme)?.[1] ?? "").split("\n");
const ciRun = readFileSync(new URL("../../.ci/run", import.meta.url), "utf8");
const packageJson = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  scripts: Record<string, string>;
};

test("the README's first lines name one test command, CI's, and a quick one that needs nothing installed", () => {
  // .ci/run installs what the tests need, then runs `npm ci && npm test` (twice: this Node, then Node 24).
  assert.ok(
    firstLines.some((line) => /^\.ci\/run\s+#/.test(line)),
    `no .ci/run line in:\n${firstLines.join("\n")}`,
  );
  assert.match(ciRun, /^npm ci && npm test$/m, ".ci/run runs the README's npm ci && npm test");
  assert.ok(firstLines.some((line) => /^npm ci && npm run test:unit\s+#/.test(line)));
  assert.ok(packageJson.scripts["test:unit"], "package.json has no test:unit script");
  assert.match(packageJson.scripts["test:unit"] ?? "", /test\/unit/);
});

test("the test command installs every program a test looks for: each has its Debian package in .ci/run", async () => {
  const { readdir } = await import("node:fs/promises");
  const installs = new Set([...ciRun.matchAll(/^\s*\[([^\]]+)\]=[a-z0-9.+-]+$/gm)].map((m) => m[1]));
  const root = new URL("../../", import.meta.url);
  const files = (await readdir(new URL("test/", root), { recursive: true }))
    .filter((file) => file.endsWith(".ts"))
    .map((file) => `test/${file}`);
  const wanted = new Map<string, string>();
  for (const file of files) {
    const text = readFileSync(new URL(file, root), "utf8");
    // skipWithout, findTool and findProgram with string literals: the programs a test needs by name.
    for (const call of text.matchAll(/\b(?:skipWithout|findTool|findProgram)\(([^)]*)\)/g)) {
      for (const name of (call[1] ?? "").matchAll(/"([^"]+)"/g)) {
        if (name[1] && !wanted.has(name[1])) wanted.set(name[1], file);
      }
    }
  }
  assert.ok(wanted.has("mosquitto") && wanted.has("qemu-ga"), [...wanted.keys()].join(", "));
  const missing = [...wanted]
    .filter(([tool]) => !installs.has(tool))
    .map(([tool, file]) => `${tool} (${file})`);
  assert.deepEqual(missing, [], "programs the tests look for that .ci/run would not install");
});
