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
  for (const verb of Object.keys(VERB_SETS)) assert.ok(readme.includes(`\`${verb}\``), verb);
});
