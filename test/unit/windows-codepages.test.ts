// The Windows console code pages exec can decode output from (exec's output_encoding): byte-exact both
// ways for every byte, and the characters a French or German `dir` writes where Windows puts them.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { CODE_PAGES, decodeCodePage, encodeCodePage } from "../../src/commands/verbs/codepages.js";
import { inCodePage } from "../../src/commands/verbs/output.js";

test("every code page maps all 256 bytes to distinct characters and back", () => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  for (const page of CODE_PAGES) {
    const text = decodeCodePage(all, page);
    assert.equal([...text].length, 256, page);
    assert.equal(new Set(text).size, 256, page);
    assert.deepEqual(encodeCodePage(text, page), all, page);
  }
});

test("property: any bytes survive decode then encode in any page", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), fc.constantFrom(...CODE_PAGES), (bytes, page) => {
      assert.deepEqual(encodeCodePage(decodeCodePage(bytes, page), page), Buffer.from(bytes));
    }),
  );
});

test("known characters: é is 0x82 in 437 and 850, Ш is 0x98 in 866, € is 0x80 in 1252, ő is 0x8B in 852", () => {
  assert.equal(decodeCodePage(Buffer.from([0x82]), "cp437"), "é");
  assert.equal(decodeCodePage(Buffer.from([0x82]), "cp850"), "é");
  assert.equal(decodeCodePage(Buffer.from([0x9b]), "cp850"), "ø");
  assert.equal(decodeCodePage(Buffer.from([0x9b]), "cp437"), "¢");
  assert.equal(decodeCodePage(Buffer.from([0x98]), "cp866"), "Ш");
  assert.equal(decodeCodePage(Buffer.from([0x80]), "cp1252"), "€");
  assert.equal(decodeCodePage(Buffer.from([0x8b]), "cp852"), "ő");
  assert.equal(encodeCodePage("€", "cp437"), undefined);
});

test("inCodePage reads a stream whether exec encoded it as text or as base64", () => {
  const bytes = Buffer.from([0x52, 0x82, 0x73, 0x75, 0x6d, 0x82]); // "Résumé" in 850
  assert.equal(inCodePage({ data: bytes.toString("base64"), encoding: "base64" }, "cp850"), "Résumé");
  assert.equal(inCodePage({ data: "plain\r\n", encoding: "utf8" }, "cp850"), "plain\r\n");
});
