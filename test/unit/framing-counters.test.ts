import assert from "node:assert/strict";
import { test } from "node:test";
import { FrameDecoder } from "../../src/qga/framing.js";

// What the decoder drops without a frame, counted so that the channel can charge it to the agent.

test("the bytes of an over-long line are counted as they arrive, before the line ends (if ever)", () => {
  const decoder = new FrameDecoder(100);
  assert.deepEqual(decoder.push(Buffer.alloc(60, 0x61)), []);
  assert.equal(decoder.discardedBytes, 0, "within the limit: kept, not dropped");
  assert.deepEqual(decoder.push(Buffer.alloc(60, 0x61)), []);
  assert.equal(decoder.discardedBytes, 120, "the limit passed: all of the line so far");
  for (let i = 0; i < 10; i++) decoder.push(Buffer.alloc(1000, 0x61));
  assert.equal(decoder.discardedBytes, 10_120, "no newline yet, and every byte counted");
  const frames = decoder.push(Buffer.from('x\n{"return": 1}\n'));
  assert.deepEqual(
    frames.map((f) => f.kind),
    ["overflow", "line"],
  );
  assert.equal(decoder.discardedBytes, 10_121, "a line within the limit adds nothing");
});

test("empty lines make no frame and are counted", () => {
  const decoder = new FrameDecoder(100);
  const frames = decoder.push(Buffer.from('\n\n\n{"return": 1}\n\n'));
  assert.equal(frames.length, 1);
  assert.equal(decoder.blankLines, 4);
  decoder.push(Buffer.alloc(65_536, 0x0a));
  assert.equal(decoder.blankLines, 4 + 65_536);
});
