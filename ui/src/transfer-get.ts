import { z } from "zod";
import type { Session } from "./connection.js";
import type { Requester } from "./requests.js";
import {
  abortTransfer,
  ask,
  Count,
  cancelTransfer,
  fromBase64,
  IN_FLIGHT,
  MAX_BROWSER_BYTES,
  type OnProgress,
  PartBytes,
  Sha256,
  sha256Hex,
  TransferCancelled,
  TransferError,
  TransferId,
  tooLarge,
  untilCancelled,
} from "./transfer-common.js";

const GetBegin = z.looseObject({
  transfer: TransferId,
  size: Count,
  part_bytes: PartBytes,
  offset: Count.optional(),
});
const GetPart = z.looseObject({ offset: Count, data: z.string(), sha256: Sha256, eof: z.boolean() });
const GetEnd = z.looseObject({ bytes: Count, sha256: Sha256 });

/** What a cancelled get leaves: the page keeps no byte of it. */
const NOTHING_SAVED = "nothing is saved";

/** Damaged parts in a row (their sha256 does not match their data) before the get gives up. */
const MAX_DAMAGED = 3;

/**
 * Copies `path` from `vm` with get-begin, get-part (IN_FLIGHT asked ahead) and get-end, as `qga-mqtt cp`
 * does (src/caller/cp-get.ts), into one buffer of the size get-begin gave. A part whose sha256 does not
 * match its data aborts the transfer and begins again at the bytes kept (the parts asked after it have
 * moved the worker on). The whole is hashed at the end and compared with get-end's sha256. Any failure
 * aborts the transfer (the worker frees its handle now, not after its idle time).
 *
 * A cancel (`signal`) asks for no part after it, aborts the transfer at once (without waiting for the
 * parts asked ahead) and rejects with TransferCancelled once the worker answered: nothing is returned, so
 * nothing is saved. A get-begin or get-end under way is waited for (the begin's transfer id is what the
 * abort needs; after the end there is nothing to abort).
 */
export async function getFile(
  session: Session,
  vm: string,
  path: string,
  onProgress: OnProgress,
  signal?: AbortSignal,
): Promise<Blob> {
  const requests = session.requests;
  const beginAt = async (args: { path: string; offset?: number }) => {
    try {
      return await ask(requests, vm, "get-begin", args, GetBegin);
    } catch (error) {
      if (!signal?.aborted) throw error;
      const why = error instanceof Error ? error.message : String(error);
      throw new TransferCancelled(`nothing to abort (${why}); ${NOTHING_SAVED}`);
    }
  };
  let begin = await beginAt({ path });
  let transfer: string | undefined = begin.transfer;
  try {
    if (signal?.aborted) throw new TransferCancelled(NOTHING_SAVED);
    if (begin.size > MAX_BROWSER_BYTES) throw tooLarge(path, begin.size);
    // Whole in memory: see MAX_BROWSER_BYTES. No more than `size` bytes are served.
    const content = new Uint8Array(begin.size);
    const limit = begin.part_bytes;
    let bytes = 0;
    let damaged = 0;
    onProgress(0, begin.size);
    let stream = partStream(requests, vm, transfer, 0, begin.size, limit);
    for (;;) {
      const part = await untilCancelled(signal, stream.next());
      if (part === "damaged") {
        damaged += 1;
        if (damaged >= MAX_DAMAGED)
          throw new TransferError("mismatch", `the part at byte ${bytes} arrived damaged ${damaged} times`);
        await untilCancelled(signal, stream.drain());
        await abortTransfer(requests, vm, transfer);
        transfer = undefined;
        begin = await beginAt({ path, offset: bytes });
        transfer = begin.transfer;
        if (signal?.aborted) throw new TransferCancelled(NOTHING_SAVED);
        if ((begin.offset ?? 0) !== bytes || begin.size > content.length)
          throw new TransferError(
            "mismatch",
            `get-begin starts at byte ${begin.offset ?? 0} of ${begin.size}, not at the ${bytes} of ${content.length} asked for`,
          );
        stream = partStream(requests, vm, transfer, bytes, begin.size, limit);
        continue;
      }
      damaged = 0;
      if (bytes + part.data.length > content.length)
        throw new TransferError("bad_reply", `get-part served past the file's ${content.length} bytes`);
      content.set(part.data, bytes);
      bytes += part.data.length;
      onProgress(bytes, content.length);
      if (part.eof) break;
      if (part.data.length < limit)
        throw new TransferError(
          "bad_reply",
          `get-part sent ${part.data.length} bytes at ${bytes - part.data.length}, short of a part, and no eof`,
        );
    }
    // Anything asked for past a file that ended early is refused; get-end comes after it.
    await untilCancelled(signal, stream.drain());
    if (signal?.aborted) throw new TransferCancelled(NOTHING_SAVED);
    const end = await ask(requests, vm, "get-end", { transfer }, GetEnd);
    transfer = undefined;
    if (signal?.aborted) throw new TransferCancelled(NOTHING_SAVED);
    const received = content.subarray(0, bytes);
    const sha256 = await sha256Hex(received);
    if (end.sha256 !== sha256 || end.bytes !== bytes)
      throw new TransferError(
        "mismatch",
        `the file received does not match: the worker served ${end.bytes} bytes with sha256 ${end.sha256}, ` +
          `${bytes} bytes with sha256 ${sha256} arrived`,
      );
    // octet-stream: the browser keeps the guest's file name as it is (no extension added from sniffing).
    return new Blob([received], { type: "application/octet-stream" });
  } catch (error) {
    // Cancelled or failed, the worker frees the handle now, not after its idle time.
    if (signal?.aborted) throw await cancelTransfer(requests, vm, transfer, NOTHING_SAVED);
    if (transfer !== undefined) await abortTransfer(requests, vm, transfer);
    throw error;
  }
}

interface Part {
  readonly data: Uint8Array;
  readonly eof: boolean;
}

/**
 * The parts of one transfer from `from`, in order, with up to IN_FLIGHT asked for ahead (never past
 * `size`, so a file that ends there is asked for nothing more). A part whose bytes do not match its sha256
 * is "damaged"; every other fault throws.
 */
function partStream(
  requests: Requester,
  vm: string,
  transfer: string,
  from: number,
  size: number,
  limit: number,
) {
  const ahead: Array<Promise<Part | "damaged">> = [];
  let asked = from;
  const askPart = () => {
    const offset = asked;
    const part = ask(requests, vm, "get-part", { transfer, offset }, GetPart).then(
      async (parsed): Promise<Part | "damaged"> => {
        if (parsed.offset !== offset)
          throw new TransferError(
            "bad_reply",
            `get-part answered offset ${parsed.offset} when ${offset} was asked`,
          );
        const data = fromBase64(parsed.data);
        if (!data) throw new TransferError("bad_reply", `get-part at ${offset} sent data that is not base64`);
        if (data.length > limit)
          throw new TransferError("bad_reply", `get-part sent ${data.length} bytes, more than its ${limit}`);
        if ((await sha256Hex(data)) !== parsed.sha256) return "damaged";
        if (data.length === 0 && !parsed.eof)
          throw new TransferError("bad_reply", `get-part sent no bytes at ${offset} and no eof`);
        return { data, eof: parsed.eof };
      },
    );
    // Settled by next() or drain(); until then a failure must not count as unhandled.
    part.catch(() => {});
    ahead.push(part);
    asked += limit;
  };
  return {
    async next(): Promise<Part | "damaged"> {
      while (ahead.length < IN_FLIGHT && (asked < size || ahead.length === 0)) {
        if (asked > size + limit)
          throw new TransferError("bad_reply", `the worker served past the file's ${size} bytes`);
        askPart();
      }
      const part = ahead.shift();
      if (!part) throw new TransferError("failed", "no part was asked for");
      return part;
    },
    /** Waits for the parts asked for ahead, whatever they bring. */
    async drain(): Promise<void> {
      await Promise.allSettled(ahead.splice(0));
    },
  };
}
