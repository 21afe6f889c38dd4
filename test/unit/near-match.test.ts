import assert from "node:assert/strict";
import { test } from "node:test";
import { editDistance, nearMatch } from "../../src/text/near-match.js";

test("editDistance counts insertions, deletions, substitutions and adjacent swaps", () => {
  assert.equal(editDistance("groups", "groups"), 0);
  assert.equal(editDistance("grups", "groups"), 1);
  assert.equal(editDistance("reeboot", "reboot"), 1);
  assert.equal(editDistance("jsno", "json"), 1, "a swap of two neighbours is one edit");
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("", "abc"), 3);
});

test("editDistance stops early past its bound", () => {
  assert.equal(editDistance("a", "abcdefgh", 2), 3);
  assert.equal(editDistance("abcdefgh", "hgfedcba", 2), 3);
  assert.equal(editDistance("grups", "groups", 2), 1);
});

test("nearMatch names the closest candidate that is a likely typo, else nothing", () => {
  assert.equal(nearMatch("basetopic", ["url", "baseTopic", "tls"]), "baseTopic", "case differences are free");
  assert.equal(nearMatch("grups", ["name", "socket", "groups", "connection"]), "groups");
  assert.equal(nearMatch("--jsn", ["--json", "--config", "--args"]), "--json");
  assert.equal(nearMatch("frobnicate", ["mqtt", "vms", "policy"]), undefined);
  assert.equal(nearMatch("a", ["vms", "b"]), undefined, "one letter is no evidence of a typo");
  assert.equal(nearMatch("guest-pnig", ["guest-ping", "guest-info"]), "guest-ping");
  assert.equal(nearMatch("x", []), undefined);
});
