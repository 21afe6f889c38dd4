import { z } from "zod";
import { byteCount, sendParts } from "../../src/caller/put-parts.js";
import type { Session } from "./connection.js";
import {
  ask,
  IN_FLIGHT,
  MAX_BROWSER_BYTES,
  type OnProgress,
  sha256Hex,
  TransferError,
  toBase64,
  tooLarge,
} from "./transfer-common.js";

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const Count = z.number().int().nonnegative();
const PutBegin = z.looseObject({
  transfer: z.string().regex(/^[0-9a-f]{16}$/),
  part_bytes: z.number().int().positive(),
  received: Count,
});
const PutPart = z.looseObject({ received: Count });
const PutEnd = z.looseObject({ path: z.string(), bytes: Count, sha256: Sha256 });
export type PutResult = z.infer<typeof PutEnd>;

export interface PutOptions {
  /** `atomic: false`: the guest's file is written as the parts come, no temporary file and rename. */
  readonly inPlace?: boolean;
}

/**
 * Copies `file` to `path` in `vm` with put-begin, put-part (IN_FLIGHT at once) and put-end, as `qga-mqtt
 * cp` does (src/caller/cp-put.ts). A failed put is not aborted: the same put-begin later resumes from what
 * the guest holds. An atomic put the VM cannot rename is a TransferError `unsupported` whose details say
 * `atomic_unavailable`: the caller asks the person before sending `inPlace`.
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
  const requests = session.requests;
  // Whole in memory: see MAX_BROWSER_BYTES.
  const content = new Uint8Array(await file.arrayBuffer());
  const size = content.length;
  const sha256 = await sha256Hex(content);
  const begin = await ask(
    requests,
    vm,
    "put-begin",
    { path, size, sha256, ...(options.inPlace ? { atomic: false } : {}) },
    PutBegin,
  );
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
      // Wrapped: the reply is awaited below, not here (that would let no other part out meanwhile).
      return { reply: ask(requests, vm, "put-part", args, PutPart) };
    });
    issued = publish.catch(() => {});
    const { reply } = await publish;
    return (await reply).received;
  };
  await sendParts({
    size,
    from: begin.received,
    partBytes: begin.part_bytes,
    inFlight: IN_FLIGHT,
    sendPart,
    onAcked: (acked) => onProgress(acked, size),
    resyncPoint: (error) =>
      error instanceof TransferError && error.code === "invalid_arguments"
        ? byteCount(error.details.received)
        : undefined,
    stalled: (acked) => new TransferError("failed", `the worker acknowledges no more than ${acked} bytes`),
  });
  const end = await ask(requests, vm, "put-end", { transfer: begin.transfer }, PutEnd);
  if (end.sha256 !== sha256 || end.bytes !== size)
    throw new TransferError(
      "mismatch",
      `put-end reports ${end.bytes} bytes with sha256 ${end.sha256}, not the file's ${size} bytes with ${sha256}`,
    );
  return end;
}
