import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { z } from "zod";
import { ReplyError, type RequestChannel } from "./cp-channel.js";
import type { CpProgress } from "./cp-progress.js";
import { failed, round, type VmCopy } from "./cp-result.js";
import { byteCount, sendParts } from "./put-parts.js";

const Hex16 = z.string().regex(/^[0-9a-f]{16}$/);
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const Count = z.number().int().nonnegative();

/** put-begin's result (commands/transfer). */
export const PutBegin = z.looseObject({
  transfer: Hex16,
  part_bytes: z.number().int().positive(),
  received: Count,
});
export const PutPart = z.looseObject({ received: Count });
export const PutEnd = z.looseObject({ path: z.string(), bytes: Count, sha256: Sha256 });

/** The local file of a put: read at offsets, by every VM of a group alike. */
export interface LocalFile {
  readonly handle: FileHandle;
  readonly size: number;
  readonly sha256: string;
}

export interface PutOptions {
  readonly channel: RequestChannel;
  readonly file: LocalFile;
  /** The path in the guest. */
  readonly path: string;
  readonly mode?: string;
  /** `atomic: false`: the guest's file is written as the parts come (for agents without guest-exec). */
  readonly inPlace?: boolean;
  /** Parts in flight at once (see the README for the measurements). */
  readonly inFlight: number;
  readonly progress: CpProgress;
}

/** sha256 of a local file, streamed (never whole in memory); `onBytes` hears how far it got. */
export async function hashFile(file: string, onBytes: (bytes: number) => void): Promise<string> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    onBytes(bytes);
  }
  return hash.digest("hex");
}

/**
 * One VM's put: put-begin (which says how much an earlier try left in the guest), the parts from there
 * with `inFlight` of them at once, read from the file at their offsets, then put-end. A part refused with
 * `invalid_arguments` and `details.received` (a part damaged in transit, parts out of turn) resyncs: the
 * parts go on from `received`, and refusals of parts sent before are ignored.
 */
export async function putToVm(vm: string, options: PutOptions): Promise<VmCopy> {
  const { channel, file, progress } = options;
  const started = performance.now();
  let moved = 0;
  try {
    const begin = PutBegin.parse(
      await channel.request(vm, "put-begin", {
        path: options.path,
        size: file.size,
        sha256: file.sha256,
        ...(options.mode ? { mode: options.mode } : {}),
        ...(options.inPlace ? { atomic: false } : {}),
      }),
    );
    if (begin.received > file.size)
      throw new Error(
        `put-begin says ${begin.received} bytes are in the guest, more than the file's ${file.size}`,
      );
    // Parts are read and published in the order they are sent (a short last part read sooner must not
    // overtake the one before it on the wire: the worker takes them in the order they come).
    let issued: Promise<unknown> = Promise.resolve();
    const sendPart = async (offset: number, length: number): Promise<number> => {
      const publish = issued.then(async () => {
        const data = Buffer.alloc(length);
        const { bytesRead } = await file.handle.read(data, 0, length, offset);
        if (bytesRead !== length)
          throw new Error(`the local file shrank while it was sent (at byte ${offset})`);
        moved += length;
        const args = {
          transfer: begin.transfer,
          offset,
          data: data.toString("base64"),
          sha256: createHash("sha256").update(data).digest("hex"),
        };
        // Wrapped: the reply is awaited below, not here (that would let no other part out meanwhile).
        return { reply: channel.request(vm, "put-part", args) };
      });
      issued = publish.catch(() => {});
      const { reply } = await publish;
      return PutPart.parse(await reply).received;
    };
    await sendParts({
      size: file.size,
      from: begin.received,
      partBytes: Math.min(begin.part_bytes, 16 * 1024 * 1024),
      inFlight: options.inFlight,
      sendPart,
      onAcked: (acked) => progress.update(vm, acked, file.size),
      resyncPoint: (error) =>
        error instanceof ReplyError && error.code === "invalid_arguments"
          ? byteCount(error.details.received)
          : undefined,
      stalled: (acked) => new Error(`the worker acknowledges no more than ${acked} bytes`),
    });
    const end = PutEnd.parse(await channel.request(vm, "put-end", { transfer: begin.transfer }));
    if (end.sha256 !== file.sha256 || end.bytes !== file.size)
      throw new Error(
        `put-end reports ${end.bytes} bytes with sha256 ${end.sha256}, not the file's ${file.size} bytes with ${file.sha256}`,
      );
    return {
      vm,
      ok: true,
      bytes: end.bytes,
      sha256: end.sha256,
      path: end.path,
      moved,
      ms: round(performance.now() - started),
    };
  } catch (error) {
    // The worker speaks of its `atomic` argument; a person at the CLI has `--in-place` for it.
    const atomicRefused = error instanceof ReplyError && error.details.atomic_unavailable === true;
    const cause = atomicRefused
      ? new ReplyError(error.code, `${error.message} (qga-mqtt cp --in-place does that)`, error.details)
      : error;
    return failed({ vm, bytes: file.size, path: options.path, moved }, started, cause);
  } finally {
    progress.finish(vm);
  }
}
