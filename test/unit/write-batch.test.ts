import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { WriteBatch } from "../../src/mqtt/write-batch.js";

/** A stream that records each write the kernel would see (corked writes arrive as one writev). */
function recordingStream() {
  const writes: string[] = [];
  const stream = new PassThrough();
  stream._writev = (chunks, callback) => {
    writes.push(chunks.map((c) => String(c.chunk)).join(""));
    callback();
  };
  stream._write = (chunk, _encoding, callback) => {
    writes.push(String(chunk));
    callback();
  };
  return { stream, writes };
}

test("what is written in one turn leaves in one write at the end of the turn; after-flush work follows it", async () => {
  const { stream, writes } = recordingStream();
  const batch = new WriteBatch(
    () => stream,
    (error) => assert.fail(String(error)),
  );
  const order: string[] = [];
  batch.touch();
  stream.write("puback;");
  batch.afterFlush(() => order.push(`after: ${writes.length} write(s)`));
  stream.write("reply;");
  await Promise.resolve();
  stream.write("event;");
  assert.deepEqual(writes, [], "nothing leaves before the turn ends");
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(writes, ["puback;reply;event;"]);
  assert.deepEqual(order, ["after: 1 write(s)"]);

  batch.touch();
  stream.write("next;");
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(writes, ["puback;reply;event;", "next;"], "a later turn is a batch of its own");
});

test("without a connection, after-flush work runs at once; a failing piece of work is reported, the rest run", () => {
  const errors: unknown[] = [];
  const batch = new WriteBatch(
    () => undefined,
    (error) => errors.push(error),
  );
  const ran: string[] = [];
  batch.afterFlush(() => {
    throw new Error("boom");
  });
  batch.afterFlush(() => ran.push("second"));
  assert.deepEqual(ran, ["second"]);
  assert.equal(errors.length, 1);
});
