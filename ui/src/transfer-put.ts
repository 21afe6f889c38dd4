import { z } from "zod";
import { byteCount, sendParts } from "../../src/caller/put-parts.js";
import type { Session } from "./connection.js";
import {
  ask,
  Count,
  cancelTransfer,
  IN_FLIGHT,
  MAX_BROWSER_BYTES,
  type OnProgress,
  PartBytes,
  Sha256,
  sha256Hex,
  TransferCancelled,
  TransferError,
  TransferId,
  toBase64,
  tooLarge,
  untilCancelled,
} from "./transfer-common.js";

const PutBegin = z.looseObject({
  transfer: TransferId,
  part_bytes: PartBytes,
  received: Count,
});
const PutPart = z.looseObject({ received: Count });
const PutEnd = z.looseObject({ path: z.string(), bytes: Count, sha256: Sha256 });
export type PutResult = z.infer<typeof PutEnd>;

export interface PutOptions {
  /** `atomic: false`: the guest's file is written as the parts come, no temporary file and rename. */
  readonly inPlace?: boolean;
  /** Cancels the put when it aborts: see putFile. */
  readonly signal?: AbortSignal;
}

/**
 * Copies `file` to `path` in `vm` with put-begin, put-part (IN_FLIGHT at once) and put-end, as `qga-mqtt
 * cp` does (src/caller/cp-put.ts). A failed put is not aborted: the same put-begin later resumes from what
 * the guest holds. An atomic put the VM cannot rename is a TransferError `unsupported` whose details say
 * `atomic_unavailable`: the caller asks the person before sending `inPlace`.
 *
 * A cancel (`options.signal`) is another matter: no part is published after it, the transfer is aborted
 * at once (the worker finishes the part under way, refuses the ones queued behind it, closes its handle and
 * removes the temporary file), and putFile rejects with TransferCancelled once the worker answered. During
 * put-begin the cancel waits for its reply: its transfer id is what the abort needs. Once put-end is
 * sent it is too late: the file is in place.
 */
export async function putFile(
  session: Session,
  vm: string,
  path: string,
  file: File,
  onProgress: OnProgress,
  options: PutOptions = {},
): Promise<PutResult> {
  if (file.size > MAX_BROWSER_BYTES) throw tooLarge(file.name, file.size);
  const { signal } = options;
  const requests = session.requests;
  // Whole in memory: see MAX_BROWSER_BYTES.
  const content = new Uint8Array(await file.arrayBuffer());
  const size = content.length;
  const sha256 = await sha256Hex(content);
  if (signal?.aborted) throw new TransferCancelled("nothing was sent");
  // Not raced with a cancel: its transfer id is what transfer-abort needs.
  const begin = await ask(
    requests,
    vm,
    "put-begin",
    { path, size, sha256, ...(options.inPlace ? { atomic: false } : {}) },
    PutBegin,
  ).catch((error: unknown) => {
    if (signal?.aborted)
      throw new TransferCancelled(
        `nothing to abort: ${error instanceof Error ? error.message : String(error)}`,
      );
    throw error;
  });
  const cancel = () =>
    cancelTransfer(
      requests,
      vm,
      begin.transfer,
      options.inPlace
        ? `${path} was written in place: it holds what arrived before the cancel`
        : `its temporary file is removed (emptied where /bin/rm may not run), ${path} is untouched`,
    );
  if (signal?.aborted) throw await cancel();
  if (begin.received > size)
    throw new TransferError(
      "bad_reply",
      `put-begin says ${begin.received} bytes are in the guest, more than the file's ${size}`,
    );
  onProgress(begin.received, size);
  // Parts are hashed and published in the order they are sent (a digest that finishes sooner must not let
  // a later part overtake an earlier one on the wire: the worker takes them in the order they come).
  let issued: Promise<unknown> = Promise.resolve();
  const sendPart = async (offset: number, length: number): Promise<number> => {
    const publish = issued.then(async () => {
      const data = content.subarray(offset, offset + length);
      const args = { transfer: begin.transfer, offset, data: toBase64(data), sha256: await sha256Hex(data) };
      // Checked last before the publish: hashing takes a while, and a cancel may come meanwhile.
      if (signal?.aborted) throw new TransferCancelled("cancelled");
      // Wrapped: the reply is awaited below, not here (that would let no other part out meanwhile).
      return { reply: ask(requests, vm, "put-part", args, PutPart) };
    });
    issued = publish.catch(() => {});
    const { reply } = await publish;
    return (await reply).received;
  };
  const parts = sendParts({
    size,
    from: begin.received,
    partBytes: begin.part_bytes,
    inFlight: IN_FLIGHT,
    sendPart,
    // Parts in flight at a cancel are still answered: their progress is no longer news.
    onAcked: (acked) => {
      if (!signal?.aborted) onProgress(acked, size);
    },
    resyncPoint: (error) =>
      error instanceof TransferError && error.code === "invalid_arguments"
        ? byteCount(error.details.received)
        : undefined,
    stalled: (acked) => new TransferError("failed", `the worker acknowledges no more than ${acked} bytes`),
  });
  try {
    await untilCancelled(signal, parts);
  } catch (error) {
    if (signal?.aborted) throw await cancel();
    throw error;
  }
  if (signal?.aborted) throw await cancel();
  const end = await ask(requests, vm, "put-end", { transfer: begin.transfer }, PutEnd);
  if (end.sha256 !== sha256 || end.bytes !== size)
    throw new TransferError(
      "mismatch",
      `put-end reports ${end.bytes} bytes with sha256 ${end.sha256}, not the file's ${size} bytes with ${sha256}`,
    );
  return end;
}
