import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { VERB_SETS } from "../../src/commands/policy.js";
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

test("every error code is documented, and the contract names no other", () => {
  for (const code of ERROR_CODES) assert.ok(readme.includes(`| \`${code}\` |`), code);
  if (spec) {
    const table = spec.slice(spec.indexOf("Error codes"), spec.indexOf("## Status snapshot"));
    const inSpec = [...table.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual([...inSpec].sort(), [...ERROR_CODES].sort());
  }
});

test("every verb of the contract is in the README", () => {
  for (const verb of Object.keys(VERB_SETS)) assert.ok(readme.includes(`\`${verb}\``), verb);
});
