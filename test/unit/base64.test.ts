import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isBase64 } from "../../src/qga/catalogue/scalars.js";

/** The definition isBase64 must match: the standard alphabet, padded, and what an encoder writes. */
const canonical = (text: string) =>
  text.length % 4 === 0 &&
  /^[A-Za-z0-9+/]*={0,2}$/.test(text) &&
  Buffer.from(text, "base64").toString("base64") === text;

const near = fc.constantFrom(..."ABCZaz09+/=-_ !\n\u00e9\u0000.QUJD".split(""));

test("isBase64 agrees with the regexp-and-round-trip definition on encodings and near misses", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 24 }), fc.nat(40), near, (bytes, at, char) => {
      const encoded = Buffer.from(bytes).toString("base64");
      assert.equal(isBase64(encoded), true, encoded);
      const changed = encoded.slice(0, at) + char + encoded.slice(at + 1);
      assert.equal(isBase64(changed), canonical(changed), JSON.stringify(changed));
    }),
    { numRuns: 20_000 },
  );
  fc.assert(
    fc.property(fc.array(near, { maxLength: 13 }), (chars) => {
      const text = chars.join("");
      assert.equal(isBase64(text), canonical(text), JSON.stringify(text));
    }),
    { numRuns: 20_000 },
  );
});

test("isBase64 refuses what the decoder would forgive", () => {
  for (const text of ["QUJDREV=", "QUJD REV", "QUJD-EVG", "QUJD_EVG", "QU=DREVG", "====", "QQ", "QQ==\n"])
    assert.equal(isBase64(text), false, text);
  for (const text of ["", "QQ==", "QUI=", "QUJD", "QUJDREU="]) assert.equal(isBase64(text), true, text);
});
