import type { Hash } from "node:crypto";
import { WorkerError } from "../../errors.js";
import { remainingMs } from "../verbs/deadline.js";
import type { VerbContext } from "../verbs/verb.js";

/*
 * The guest's side of a transfer, checked: every position, count, length and eof the agent reports is
 * compared with what was asked, and every loop ends after a number of calls fixed before it starts.
 */

/** Extra calls a read may take beyond one per chunk (an agent may return short reads before the end). */
const SPARE_READS = 8;

/** Moves the handle to `offset` from the start; the agent must say it is there. */
export async function seekSet(context: VerbContext, handle: number, offset: number): Promise<void> {
  const { position } = await context.agent.call(
    "guest-file-seek",
    { handle, offset, whence: "set" },
    { timeoutMs: remainingMs(context, `while seeking to byte ${offset}`) },
  );
  if (position !== offset) {
    throw new WorkerError(
      "agent_error",
      `the agent was asked to seek to byte ${offset} and says it is at ${position}`,
    );
  }
}

/** The file's length (guest-file-seek to its end), a whole number of bytes. */
export async function lengthOf(context: VerbContext, handle: number): Promise<number> {
  const { position } = await context.agent.call(
    "guest-file-seek",
    { handle, offset: 0, whence: "end" },
    { timeoutMs: remainingMs(context, "while learning the file's length") },
  );
  if (!Number.isSafeInteger(position) || position < 0) {
    throw new WorkerError("agent_error", `the agent says the file's end is at byte ${position}`);
  }
  return position;
}

export interface ReadOutcome {
  readonly bytes: number;
  readonly eof: boolean;
}

/**
 * Reads up to `length` bytes from the handle's position, in chunks of limits.fileChunkBytes, handing each
 * chunk to `take` with the agent's own base64 of it (canonical: the catalogue checked). Stops at `length` or at the agent's eof. A read that gives more than asked, or nothing
 * without eof, is `agent_error`: the guest is not believed, and nothing loops on its word.
 */
export async function readInto(
  context: VerbContext,
  handle: number,
  length: number,
  take: (chunk: Buffer, base64: string) => void,
): Promise<ReadOutcome> {
  const chunkBytes = context.limits.fileChunkBytes;
  const maxCalls = Math.ceil(length / chunkBytes) + SPARE_READS;
  let bytes = 0;
  for (let call = 0; bytes < length; call++) {
    if (call >= maxCalls) {
      throw new WorkerError(
        "agent_error",
        `the agent gave ${bytes} of ${length} bytes in ${call} reads, in pieces too small to go on`,
      );
    }
    const count = Math.min(chunkBytes, length - bytes);
    const read = await context.agent.call(
      "guest-file-read",
      { handle, count },
      { timeoutMs: remainingMs(context, `after ${bytes} bytes were read`) },
    );
    const chunk = Buffer.from(read["buf-b64"], "base64");
    if (chunk.length > count || read.count !== chunk.length) {
      throw new WorkerError(
        "agent_error",
        `the agent was asked for ${count} bytes and answered ${chunk.length} (it says ${read.count})`,
      );
    }
    if (chunk.length > 0) take(chunk, read["buf-b64"]);
    bytes += chunk.length;
    if (read.eof) return { bytes, eof: true };
    if (chunk.length === 0) {
      throw new WorkerError(
        "agent_error",
        `the agent gave no bytes and no end of file after ${bytes} bytes (is the file a pipe or a device?)`,
      );
    }
  }
  return { bytes, eof: false };
}

/** Reads up to `length` bytes into `hash`: the bytes read, fewer when the file ends before. */
export async function hashFrom(
  context: VerbContext,
  handle: number,
  length: number,
  hash: Hash,
): Promise<number> {
  const outcome = await readInto(context, handle, length, (chunk) => hash.update(chunk));
  return outcome.bytes;
}

/**
 * Writes all of `data` in chunks of limits.fileChunkBytes; the agent must confirm each chunk's length.
 * A short or failed write throws with `confirmed`: the bytes of `data` the agent confirmed before.
 * `base64`, data's own base64 when the caller has it, is sent as it is when data fits one chunk (one
 * large string fewer a part).
 */
export async function writeAll(
  context: VerbContext,
  handle: number,
  data: Buffer,
  base64?: string,
): Promise<void> {
  const chunkBytes = context.limits.fileChunkBytes;
  for (let offset = 0; offset < data.length; offset += chunkBytes) {
    const chunk = data.subarray(offset, offset + chunkBytes);
    const encoded = base64 !== undefined && data.length <= chunkBytes ? base64 : chunk.toString("base64");
    let count: number;
    try {
      const wrote = await context.agent.call(
        "guest-file-write",
        { handle, "buf-b64": encoded },
        { timeoutMs: remainingMs(context, `after ${offset} bytes of the part were written`) },
      );
      count = wrote.count;
    } catch (error) {
      throw new PartialWrite(offset, error);
    }
    if (count !== chunk.length) {
      throw new PartialWrite(
        offset + Math.min(Math.max(0, count), chunk.length),
        new WorkerError(
          "agent_error",
          `the agent wrote ${count} of ${chunk.length} bytes (is the guest's disk full?)`,
        ),
      );
    }
  }
}

/** A write that stopped part way: `confirmed` bytes of the part are known to be in the guest. */
export class PartialWrite extends Error {
  constructor(
    readonly confirmed: number,
    override readonly cause: unknown,
  ) {
    super("a part was written only in part");
  }
}
