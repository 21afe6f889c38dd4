import assert from "node:assert/strict";
import { test } from "node:test";
import {
  completeUtf8Length,
  decodeStream,
  encodeBytes,
  sha256Hex,
  utf8Text,
} from "../../src/commands/verbs/output.js";

const b64 = (bytes: Buffer | string) => Buffer.from(bytes).toString("base64");

test("valid UTF-8 is text, anything else base64 of exactly the bytes", () => {
  assert.deepEqual(encodeBytes(Buffer.from("héllo €\n")), { data: "héllo €\n", encoding: "utf8" });
  assert.deepEqual(encodeBytes(Buffer.from([0xff, 0xfe])), { data: "//4=", encoding: "base64" });
  assert.deepEqual(encodeBytes(Buffer.alloc(0)), { data: "", encoding: "utf8" });
  // A BOM is part of the content: it must survive the round trip.
  const bom = Buffer.from([0xef, 0xbb, 0xbf, 0x41]);
  assert.deepEqual(Buffer.from(encodeBytes(bom).data), bom);
  // Encoded surrogates and overlong forms are not UTF-8.
  assert.equal(utf8Text(Buffer.from([0xed, 0xa0, 0x80])), undefined);
  assert.equal(utf8Text(Buffer.from([0xc0, 0xaf])), undefined);
});

test("an incomplete multibyte sequence at the end is found, a complete one is kept", () => {
  const euro = Buffer.from("€"); // e2 82 ac
  const emoji = Buffer.from("😀"); // f0 9f 98 80
  assert.equal(completeUtf8Length(Buffer.concat([Buffer.from("a"), euro])), 4);
  assert.equal(completeUtf8Length(Buffer.concat([Buffer.from("a"), euro.subarray(0, 2)])), 1);
  assert.equal(completeUtf8Length(Buffer.concat([Buffer.from("a"), euro.subarray(0, 1)])), 1);
  assert.equal(completeUtf8Length(Buffer.concat([Buffer.from("ab"), emoji.subarray(0, 3)])), 2);
  assert.equal(completeUtf8Length(emoji), 4);
  assert.equal(completeUtf8Length(Buffer.from("plain")), 5);
  assert.equal(completeUtf8Length(Buffer.alloc(0)), 0);
});

test("output within the limit is untouched and not truncated", () => {
  assert.deepEqual(decodeStream(b64("out\n"), false, 1024), {
    data: "out\n",
    encoding: "utf8",
    truncated: false,
  });
  assert.deepEqual(decodeStream(undefined, false, 1024), { data: "", encoding: "utf8", truncated: false });
  assert.deepEqual(decodeStream(b64(Buffer.from([0xff, 0xfe])), false, 1024), {
    data: "//4=",
    encoding: "base64",
    truncated: false,
  });
});

test("output over the limit is cut to the limit and flagged", () => {
  const out = decodeStream(b64("x".repeat(5000)), false, 1024);
  assert.equal(out.data, "x".repeat(1024));
  assert.equal(out.truncated, true);
  assert.equal(out.encoding, "utf8");
  const exact = decodeStream(b64("x".repeat(1024)), false, 1024);
  assert.equal(exact.truncated, false);
});

test("a multibyte character split by the cut is dropped, so the text stays text", () => {
  // 1023 ASCII bytes then "€": the limit of 1024 falls inside the euro sign.
  const text = `${"a".repeat(1023)}€tail`;
  const out = decodeStream(b64(text), false, 1024);
  assert.equal(out.encoding, "utf8");
  assert.equal(out.truncated, true);
  assert.equal(out.data, "a".repeat(1023));
  // The same split inside text the agent itself cut (out-truncated) is handled the same way.
  const cutByAgent = Buffer.from(`${"b".repeat(10)}€`).subarray(0, 12);
  assert.deepEqual(decodeStream(b64(cutByAgent), true, 1024), {
    data: "b".repeat(10),
    encoding: "utf8",
    truncated: true,
  });
});

test("binary output over the limit is base64 of the bytes kept", () => {
  const bytes = Buffer.alloc(2000, 0xff);
  const out = decodeStream(b64(bytes), false, 1024);
  assert.equal(out.encoding, "base64");
  assert.equal(out.truncated, true);
  assert.equal(Buffer.from(out.data, "base64").length, 1024);
});

test("the agent's own truncation flag is kept even under the limit", () => {
  assert.deepEqual(decodeStream(b64("partial"), true, 1024), {
    data: "partial",
    encoding: "utf8",
    truncated: true,
  });
});

test("an invalid byte in the middle makes a cut stream base64, not text with a hole", () => {
  const bytes = Buffer.concat([Buffer.from("ok"), Buffer.from([0xff]), Buffer.from("x".repeat(2000))]);
  const out = decodeStream(b64(bytes), false, 1024);
  assert.equal(out.encoding, "base64");
  assert.deepEqual(Buffer.from(out.data, "base64"), bytes.subarray(0, 1024));
});

test("sha256 is the hex digest of the bytes", () => {
  assert.equal(
    sha256Hex(Buffer.from("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});
