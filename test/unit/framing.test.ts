import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type Frame, FrameDecoder, OVERFLOW_TAIL_BYTES } from "../../src/qga/framing.js";

function decodeAll(decoder: FrameDecoder, chunks: readonly Buffer[]): Frame[] {
  return chunks.flatMap((chunk) => decoder.push(chunk));
}

function describe(frames: readonly Frame[]): string[] {
  return frames.map((f) =>
    f.kind === "line"
      ? `line:${f.bytes.toString("latin1")}`
      : f.kind === "overflow"
        ? `overflow:${f.bytes}`
        : "0xff",
  );
}

/** Cuts `bytes` at the given offsets (sorted, deduplicated, in range). */
function split(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  return chunks;
}

test("a delimited sync reply is a 0xFF frame then its line, as bytes (never U+FFFD)", () => {
  const decoder = new FrameDecoder(1024);
  const input = Buffer.concat([
    Buffer.from('{"error": {"class": "GenericError", "desc": "JSON parse error, stray \'\\uFFFD\'"}}\n'),
    Buffer.from([0xff]),
    Buffer.from('{"return": 123}\n'),
  ]);
  assert.deepEqual(describe(decoder.push(input)), [
    `line:{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\uFFFD'"}}`,
    "0xff",
    'line:{"return": 123}',
  ]);
});

test("a 0xFF drops the partial line before it", () => {
  const decoder = new FrameDecoder(1024);
  const frames = decodeAll(decoder, [
    Buffer.from('{"return": "half'),
    Buffer.from([0xff]),
    Buffer.from('{"return": 1}\n'),
  ]);
  assert.deepEqual(describe(frames), ["0xff", 'line:{"return": 1}']);
});

test("a line over the limit becomes one overflow frame with its tail, and the next line is intact", () => {
  const decoder = new FrameDecoder(64);
  const big = `{"return": "${"x".repeat(500)}", "id": "q1.7"}\n`;
  const frames = decodeAll(decoder, split(Buffer.from(`${big}{"return": 2}\n`), [10, 70, 200, 400]));
  assert.equal(frames.length, 2);
  const [overflow, next] = frames;
  assert.equal(overflow?.kind, "overflow");
  if (overflow?.kind !== "overflow") return;
  assert.equal(overflow.bytes, big.length - 1);
  assert.ok(overflow.tail.length <= OVERFLOW_TAIL_BYTES);
  assert.ok(overflow.tail.toString().endsWith('"id": "q1.7"}'));
  assert.deepEqual(describe(next ? [next] : []), ['line:{"return": 2}']);
});

test("a line of exactly the limit is kept", () => {
  const decoder = new FrameDecoder(10);
  assert.deepEqual(describe(decoder.push(Buffer.from("0123456789\n"))), ["line:0123456789"]);
  assert.deepEqual(describe(decoder.push(Buffer.from("0123456789A\n"))), ["overflow:11"]);
});

test("empty lines are not frames", () => {
  const decoder = new FrameDecoder(10);
  assert.deepEqual(describe(decoder.push(Buffer.from("\n\n1\n"))), ["line:1"]);
});

test("property: any split of the byte stream into chunks gives the same frames", () => {
  const segment = fc.oneof(
    fc.string({ maxLength: 40 }).map((s) => Buffer.from(`${JSON.stringify({ return: s })}\n`)),
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    fc.constant(Buffer.from([0xff])),
    fc.constant(Buffer.from("\n")),
  );
  fc.assert(
    fc.property(
      fc.array(segment, { maxLength: 30 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      fc.integer({ min: 1, max: 64 }),
      (segments, cuts, limit) => {
        const stream = Buffer.concat(segments);
        const whole = describe(new FrameDecoder(limit).push(stream));
        const pieces = describe(decodeAll(new FrameDecoder(limit), split(stream, cuts)));
        const bytewise = describe(
          decodeAll(
            new FrameDecoder(limit),
            [...stream].map((b) => Buffer.from([b])),
          ),
        );
        assert.deepEqual(pieces, whole);
        assert.deepEqual(bytewise, whole);
      },
    ),
    { numRuns: 500 },
  );
});
