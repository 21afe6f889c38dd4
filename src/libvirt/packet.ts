// One libvirt RPC message on the wire: a 4-byte big-endian length that counts itself, the 24-byte
// virNetMessageHeader, then the XDR payload.
import {
  MESSAGE_HEADER_BYTES,
  MESSAGE_LEN_BYTES,
  MESSAGE_MAX,
  MessageStatus,
  MessageType,
} from "./constants.js";

export interface MessageHeader {
  readonly program: number;
  readonly version: number;
  readonly procedure: number;
  readonly type: number;
  readonly serial: number;
  readonly status: number;
}

export interface Message {
  readonly header: MessageHeader;
  readonly payload: Buffer;
}

/** A frame that breaks the protocol's limits; the stream cannot be resynchronised after it. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

/** The largest value the length word may hold (libvirt's own check: MESSAGE_MAX + the length word). */
export const MAX_FRAME_LENGTH = MESSAGE_MAX + MESSAGE_LEN_BYTES;
const MIN_FRAME_LENGTH = MESSAGE_LEN_BYTES + MESSAGE_HEADER_BYTES;

export function encodeMessage(header: MessageHeader, payload: Buffer = Buffer.alloc(0)): Buffer {
  const length = MIN_FRAME_LENGTH + payload.length;
  if (length > MAX_FRAME_LENGTH) {
    throw new FrameError(`message of ${length} bytes exceeds libvirt's limit of ${MAX_FRAME_LENGTH}`);
  }
  const frame = Buffer.alloc(length);
  frame.writeUInt32BE(length, 0);
  frame.writeUInt32BE(header.program, 4);
  frame.writeUInt32BE(header.version, 8);
  frame.writeInt32BE(header.procedure, 12);
  frame.writeInt32BE(header.type, 16);
  frame.writeUInt32BE(header.serial, 20);
  frame.writeInt32BE(header.status, 24);
  payload.copy(frame, MIN_FRAME_LENGTH);
  return frame;
}

export function callHeader(
  program: number,
  version: number,
  procedure: number,
  serial: number,
): MessageHeader {
  return { program, version, procedure, type: MessageType.CALL, serial, status: MessageStatus.OK };
}

/** `body` is a frame without its length word. */
export function decodeMessage(body: Buffer): Message {
  if (body.length < MESSAGE_HEADER_BYTES) {
    throw new FrameError(`message of ${body.length} bytes is shorter than its header`);
  }
  const header: MessageHeader = {
    program: body.readUInt32BE(0),
    version: body.readUInt32BE(4),
    procedure: body.readInt32BE(8),
    type: body.readInt32BE(12),
    serial: body.readUInt32BE(16),
    status: body.readInt32BE(20),
  };
  return { header, payload: body.subarray(MESSAGE_HEADER_BYTES) };
}

/**
 * Splits a byte stream into frame bodies. A frame's buffer is allocated once its length is known, so a
 * large reply arriving in many chunks is copied once, and a length beyond the protocol's maximum is refused
 * before anything is buffered for it.
 */
export class FrameDecoder {
  private readonly lengthBytes = Buffer.alloc(MESSAGE_LEN_BYTES);
  private lengthFilled = 0;
  private body: Buffer | undefined;
  private bodyFilled = 0;

  /** Returns the bodies (header + payload) of the frames the chunk completes. Throws FrameError. */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.body === undefined) {
        const take = Math.min(MESSAGE_LEN_BYTES - this.lengthFilled, chunk.length - offset);
        chunk.copy(this.lengthBytes, this.lengthFilled, offset, offset + take);
        this.lengthFilled += take;
        offset += take;
        if (this.lengthFilled < MESSAGE_LEN_BYTES) break;
        const length = this.lengthBytes.readUInt32BE(0);
        if (length > MAX_FRAME_LENGTH) {
          throw new FrameError(
            `libvirtd sent a message of ${length} bytes, over the protocol's maximum of ${MAX_FRAME_LENGTH}`,
          );
        }
        if (length < MIN_FRAME_LENGTH) {
          throw new FrameError(`libvirtd sent a message of ${length} bytes, shorter than a header`);
        }
        this.body = Buffer.allocUnsafe(length - MESSAGE_LEN_BYTES);
        this.bodyFilled = 0;
        this.lengthFilled = 0;
      }
      const take = Math.min(this.body.length - this.bodyFilled, chunk.length - offset);
      chunk.copy(this.body, this.bodyFilled, offset, offset + take);
      this.bodyFilled += take;
      offset += take;
      if (this.bodyFilled === this.body.length) {
        frames.push(this.body);
        this.body = undefined;
      }
    }
    return frames;
  }

  /** Bytes of an unfinished frame: non-zero when the peer closed mid-message. */
  get pendingBytes(): number {
    return this.body === undefined ? this.lengthFilled : MESSAGE_LEN_BYTES + this.bodyFilled;
  }
}
