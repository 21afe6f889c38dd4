import { WorkerError } from "../../errors.js";
import { argCount, argsObject } from "../../qga/catalogue/scalars.js";
import { sha256Hex } from "../verbs/output.js";
import { defineVerb, type VerbContext } from "../verbs/verb.js";
import { argTransferId, progress } from "./common.js";
import type { GetTransfer } from "./get-state.js";
import { readInto, seekSet } from "./guest-io.js";
import { MAX_WAITING_PARTS } from "./held.js";

/**
 * Reads the next part (at most limits.transferPartBytes) at `offset`: the bytes served so far, or the
 * previous part's offset (a retry after a lost reply: read again from the guest at that offset).
 */
export const getPart = defineVerb({
  name: "get-part",
  set: "files",
  args: argsObject({ transfer: argTransferId(), offset: argCount() }),
  async run(context, args) {
    const transfer = context.transfers.find<GetTransfer>(args.transfer, "get");
    const turn = transfer.serial.run(() => readPart(context, transfer, args.offset));
    if (turn === undefined) {
      throw new WorkerError(
        "busy",
        `more than ${MAX_WAITING_PARTS} parts of transfer ${args.transfer} are waiting their turn; ask for fewer at once`,
      );
    }
    return turn;
  },
});

async function readPart(context: VerbContext, transfer: GetTransfer, offset: number) {
  if (!context.transfers.holds(transfer)) context.transfers.find(transfer.id, "get");
  let hashBefore = transfer.hash.copy();
  if (offset !== transfer.served) {
    const last = transfer.last;
    if (last === undefined || offset !== last.offset) {
      throw new WorkerError(
        "invalid_arguments",
        `args.offset: ${offset}, but ${transfer.served} bytes were served: ask for the part at ${transfer.served}` +
          (last ? ` (or again for the one at ${last.offset})` : ""),
        { details: { offset: transfer.served } },
      );
    }
    await seekSet(context, transfer.handle, offset);
    hashBefore = last.hashBefore;
    transfer.hash = hashBefore.copy();
    transfer.served = offset;
  }
  const want = Math.min(context.limits.transferPartBytes, transfer.size - offset);
  const chunks: Buffer[] = [];
  const encoded: string[] = [];
  let eof = want === 0;
  if (want > 0) {
    try {
      const take = (chunk: Buffer, base64: string) => {
        chunks.push(chunk);
        encoded.push(base64);
      };
      eof = (await readInto(context, transfer.handle, want, take)).eof;
    } catch (error) {
      // Where the handle is now is not known: the next part (or its retry) seeks first.
      transfer.last = { offset, hashBefore };
      transfer.served = offset;
      transfer.hash = hashBefore.copy();
      await seekSet(context, transfer.handle, offset).catch(() => context.transfers.drop(transfer));
      throw error;
    }
  }
  const data = Buffer.concat(chunks);
  transfer.hash.update(data);
  transfer.last = { offset, hashBefore };
  transfer.served = offset + data.length;
  eof ||= transfer.served >= transfer.size;
  progress(context, transfer, transfer.served, transfer.size);
  // A part read in one call is sent in the agent's own base64 (one large string fewer a part).
  const base64 = encoded.length === 1 ? (encoded[0] as string) : data.toString("base64");
  return { offset, data: base64, sha256: sha256Hex(data), eof };
}
