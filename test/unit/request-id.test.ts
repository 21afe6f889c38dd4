import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { findRequestId } from "../../src/commands/request-id.js";

const find = (text: string | Buffer) =>
  findRequestId(Buffer.isBuffer(text) ? text : Buffer.from(text), 1 << 20);

test("the top-level id of payloads that fail to parse or validate", () => {
  assert.equal(find('{"id":"x1","timout":5}'), "x1");
  assert.equal(find(' \n{ "args": {"id": "inner", "s": "\\"id\\":\\"no\\""}, "id" : "outer" }'), "outer");
  assert.equal(find('{"id":"r\\u00e9q\\"1","args":{'), 'réq"1', "a payload cut short after its id");
  assert.equal(find(`\ufeff{"id":"bom"}`), "bom");
  assert.equal(find(`{"args":{"content":"${"x".repeat(400_000)}"},"id":"late"}`), "late");
});

test("no id where there is none the contract allows", () => {
  for (const text of [
    '{"args":{"id":"inner"}}',
    '["id","x"]',
    '{"id":5}',
    '{"id":""}',
    `{"id":"${"x".repeat(129)}"}`,
    '{"s":"\\"id\\":\\"fake\\"","x":1}',
    '{"id":"unterminated',
    "not json",
  ]) {
    assert.equal(find(text), undefined, text);
  }
});

test("the scan stops at its bound", () => {
  const text = `{"args":"${"x".repeat(2000)}","id":"far"}`;
  assert.equal(findRequestId(Buffer.from(text), 1000), undefined);
  assert.equal(findRequestId(Buffer.from(text), 4000), "far");
});

test("property: for any JSON object with a string id, the scan finds what JSON.parse finds", () => {
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.string().filter((k) => k !== "id" && k !== "__proto__"),
        fc.jsonValue(),
        { maxKeys: 5 },
      ),
      fc.string({ minLength: 1, maxLength: 128 }),
      (members, id) => {
        const text = JSON.stringify({ ...members, id });
        assert.equal(find(text), (JSON.parse(text) as { id: string }).id);
      },
    ),
  );
});

test("property: any bytes never throw", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const id = find(Buffer.from(bytes));
      assert.ok(id === undefined || (typeof id === "string" && id.length <= 128));
    }),
  );
});
