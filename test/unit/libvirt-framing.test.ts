import assert from "node:assert/strict";
import { test } from "node:test";
import { MessageType, REMOTE_PROGRAM } from "../../src/libvirt/constants.js";
import {
  callHeader,
  decodeMessage,
  encodeMessage,
  FrameDecoder,
  FrameError,
  MAX_FRAME_LENGTH,
} from "../../src/libvirt/packet.js";

function sampleStream(): { bytes: Buffer; payloads: Buffer[] } {
  const payloads = [
    Buffer.alloc(0),
    Buffer.from("abcd"),
    Buffer.alloc(1000, 7),
    Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]),
  ];
  const frames = payloads.map((payload, i) =>
    encodeMessage(callHeader(REMOTE_PROGRAM, 1, 66 + i, i + 1), payload),
  );
  return { bytes: Buffer.concat(frames), payloads };
}

test("a message's header is the length word then six 4-byte fields", () => {
  const frame = encodeMessage(callHeader(REMOTE_PROGRAM, 1, 66, 9), Buffer.from([0, 0, 0, 1]));
  assert.equal(frame.readUInt32BE(0), frame.length, "the length counts itself");
  assert.equal(frame.length, 4 + 24 + 4);
  const { header, payload } = decodeMessage(frame.subarray(4));
  assert.deepEqual(header, {
    program: REMOTE_PROGRAM,
    version: 1,
    procedure: 66,
    type: MessageType.CALL,
    serial: 9,
    status: 0,
  });
  assert.deepEqual([...payload], [0, 0, 0, 1]);
});

test("frames come out whole whatever the split: every single split point, and byte by byte", () => {
  const { bytes, payloads } = sampleStream();
  const check = (bodies: Buffer[]) => {
    assert.equal(bodies.length, payloads.length);
    bodies.forEach((body, i) => {
      const { header, payload } = decodeMessage(body);
      assert.equal(header.serial, i + 1);
      assert.deepEqual(payload, payloads[i]);
    });
  };
  for (let cut = 0; cut <= bytes.length; cut++) {
    const decoder = new FrameDecoder();
    check([...decoder.push(bytes.subarray(0, cut)), ...decoder.push(bytes.subarray(cut))]);
    assert.equal(decoder.pendingBytes, 0);
  }
  const decoder = new FrameDecoder();
  const bodies: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) {
    bodies.push(...decoder.push(bytes.subarray(i, i + 1)));
    if (i < bytes.length - 1) assert.ok(decoder.pendingBytes > 0 || bodies.length > 0);
  }
  check(bodies);
});

test("a length word over the protocol's maximum is refused before anything is buffered", () => {
  const word = Buffer.alloc(4);
  word.writeUInt32BE(MAX_FRAME_LENGTH + 1);
  assert.throws(
    () => new FrameDecoder().push(word),
    (err: unknown) => {
      assert.ok(err instanceof FrameError);
      assert.match(err.message, /over the protocol's maximum of 16777220/);
      return true;
    },
  );
  word.writeUInt32BE(MAX_FRAME_LENGTH);
  assert.deepEqual(new FrameDecoder().push(word), [], "exactly the maximum is allowed");
  word.writeUInt32BE(12);
  assert.throws(() => new FrameDecoder().push(word), /shorter than a header/);
  assert.throws(() => encodeMessage(callHeader(1, 1, 1, 1), Buffer.alloc(MAX_FRAME_LENGTH)), FrameError);
});
