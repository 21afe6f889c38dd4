import { createHash } from "node:crypto";
import { type CodePage, decodeCodePage } from "./codepages.js";

/*
 * Guest bytes (program output, file contents) go into JSON replies: as text when they are valid UTF-8,
 * which is what a person or a Home Assistant template wants, else as base64, so no byte is ever lost
 * to a replacement character.
 */

export type Encoding = "utf8" | "base64";

export interface Encoded {
  readonly data: string;
  readonly encoding: Encoding;
}

// ignoreBOM: a leading BOM is part of the bytes and must survive a round trip.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The bytes as text when they are valid UTF-8, else undefined. */
export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Exactly these bytes: text when valid UTF-8, else base64. */
export function encodeBytes(bytes: Buffer): Encoded {
  const text = utf8Text(bytes);
  return text === undefined
    ? { data: bytes.toString("base64"), encoding: "base64" }
    : { data: text, encoding: "utf8" };
}

/**
 * The length of `bytes` without a multibyte sequence that a cut left incomplete at the end, so that
 * text cut at a byte limit stays text. Only the last three bytes can belong to such a sequence.
 */
export function completeUtf8Length(bytes: Uint8Array): number {
  const length = bytes.length;
  for (let back = 1; back <= Math.min(4, length); back++) {
    const byte = bytes[length - back]!;
    if ((byte & 0xc0) === 0x80) continue;
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needed > back ? length - back : length;
  }
  return length;
}

export interface StreamOutput extends Encoded {
  readonly truncated: boolean;
}

/**
 * One exec stream (the agent's base64), kept to `limit` bytes. Truncated when the agent cut it (it keeps
 * at most 16 MiB) or when it is over the limit. A cut stream that is text up to the cut stays text, minus
 * the partial character at the end; otherwise base64 of the bytes kept.
 */
export function decodeStream(
  base64: string | undefined,
  agentTruncated: boolean,
  limit: number,
): StreamOutput {
  const all = Buffer.from(base64 ?? "", "base64");
  const truncated = agentTruncated || all.length > limit;
  const kept = all.length > limit ? all.subarray(0, limit) : all;
  if (truncated) {
    const text = utf8Text(kept.subarray(0, completeUtf8Length(kept)));
    if (text !== undefined) return { data: text, encoding: "utf8", truncated };
  }
  return { ...encodeBytes(kept), truncated };
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * A stream (as encodeBytes gave it) as text in a Windows code page, for a program whose console writes one
 * (cmd.exe, ipconfig on a localised Windows): one character per byte, so the bytes stay exact (see
 * codepages.ts); a client turns the text back into them with the same page.
 */
export function inCodePage(stream: Encoded, codePage: CodePage): string {
  return decodeCodePage(Buffer.from(stream.data, stream.encoding), codePage);
}
