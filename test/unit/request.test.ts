import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { parseRequest } from "../../src/commands/request.js";
import { WorkerError } from "../../src/errors.js";

const limits = { maxPayloadBytes: 1024, maxDepth: 8, maxTimeoutSeconds: 60 };

function codeOf(payload: Buffer | string): string | undefined {
  try {
    parseRequest(typeof payload === "string" ? Buffer.from(payload) : payload, limits);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof WorkerError);
    return error.code;
  }
}

test("an empty payload (or whitespace) is a request without id or arguments", () => {
  assert.deepEqual(parseRequest(Buffer.alloc(0), limits), {});
  assert.deepEqual(parseRequest(Buffer.from(" \n"), limits), {});
});

test("the envelope: id, args, timeout", () => {
  const request = parseRequest(Buffer.from('{"id":"r1","args":{"path":"/bin/true"},"timeout":5}'), limits);
  assert.deepEqual(request, { id: "r1", args: { path: "/bin/true" }, timeout: 5 });
});

test("what is not a request object is invalid_payload, with the reason", () => {
  assert.equal(codeOf("not json"), "invalid_payload");
  assert.equal(codeOf("[1,2]"), "invalid_payload");
  assert.equal(codeOf('"text"'), "invalid_payload");
  assert.equal(codeOf("null"), "invalid_payload");
  assert.equal(codeOf(Buffer.from([0x7b, 0xff, 0x7d])), "invalid_payload");
  assert.equal(codeOf('{"id": 5}'), "invalid_payload");
  assert.equal(codeOf(`{"id": "${"x".repeat(129)}"}`), "invalid_payload");
  assert.equal(codeOf('{"arg": {}}'), "invalid_payload");
  assert.equal(codeOf('{"args": []}'), "invalid_payload");
  assert.equal(codeOf('{"timeout": 61}'), "invalid_payload");
  assert.equal(codeOf('{"timeout": -1}'), "invalid_payload");
  assert.equal(codeOf(`{"args": {"a": "${"x".repeat(2000)}"}}`), "invalid_payload");
});

test("the messages say what is wrong in words", () => {
  assert.throws(() => parseRequest(Buffer.from('{"arg": {}}'), limits), /payload\.arg: unexpected member/);
  assert.throws(() => parseRequest(Buffer.from('{"timeout": 61}'), limits), /at most 60 seconds/);
  assert.throws(() => parseRequest(Buffer.alloc(2000, 0x20), limits), /over the limit of 1024/);
  assert.throws(() => parseRequest(Buffer.from("[[[[[[[[[[]]]]]]]]]]"), limits), /JSON object/);
});

test("nesting deeper than the limit is refused before validation", () => {
  const deep = `{"args":${'{"a":'.repeat(10)}1${"}".repeat(10)}}`;
  assert.throws(() => parseRequest(Buffer.from(deep), limits), /deeper than 8 levels/);
  const ok = `{"args":${'{"a":'.repeat(5)}1${"}".repeat(5)}}`;
  assert.ok(parseRequest(Buffer.from(ok), limits).args);
});

test("a __proto__ member is refused as unexpected, at any depth, and pollutes nothing", () => {
  // Before: accepted, and the copy zod makes of args took it as its prototype (the member vanished).
  for (const text of [
    '{"args":{"__proto__":{"polluted":true}}}',
    '{"id":"p","args":{"path":"/tmp/x","o":{"__proto__":{"path":"/etc/shadow"}}}}',
    '{"__proto__":{"timeout":1}}',
  ]) {
    assert.throws(
      () => parseRequest(Buffer.from(text), limits),
      (error: WorkerError) =>
        error.code === "invalid_payload" && /__proto__.*unexpected member/.test(error.message),
      text,
    );
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test("property: any bytes either parse or fail as invalid_payload, never anything else", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
        fc.json().map((s) => Buffer.from(s)),
        fc.jsonValue().map((v) => Buffer.from(JSON.stringify({ id: "x", args: v }))),
      ),
      (payload) => {
        const code = codeOf(payload);
        assert.ok(code === undefined || code === "invalid_payload");
      },
    ),
    { numRuns: 2000 },
  );
});
