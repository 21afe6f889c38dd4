import { isInternal, toReplyError, WorkerError } from "../../errors.js";
import { argBase64, argCount, argsObject, base64DecodedLength } from "../../qga/catalogue/scalars.js";
import { remainingMs } from "../verbs/deadline.js";
import { sha256Hex } from "../verbs/output.js";
import { defineVerb, type VerbContext } from "../verbs/verb.js";
import { argSha256, argTransferId, progress } from "./common.js";
import { PartialWrite, writeAll } from "./guest-io.js";
import { MAX_WAITING_PARTS } from "./held.js";
import type { PutTransfer } from "./put-state.js";

const PutPartArgs = argsObject({
  transfer: argTransferId(),
  offset: argCount(),
  data: argBase64(),
  sha256: argSha256(),
});

type PutPartArgs = { transfer: string; offset: number; data: string; sha256: string };

/**
 * Writes one part at `offset`, which must be the bytes received so far. Parts of a transfer are written
 * one at a time in the order they came; a part already written (an offset below `received`, a retry
 * after a lost reply) is answered without writing again.
 */
export const putPart = defineVerb({
  name: "put-part",
  set: "files",
  args: PutPartArgs,
  async run(context, args) {
    const partBytes = context.limits.transferPartBytes;
    const length = base64DecodedLength(args.data);
    if (length > partBytes) {
      throw new WorkerError(
        "invalid_arguments",
        `args.data: ${length} bytes, over the part size of ${partBytes} (limits.transferPartBytes; put-begin's part_bytes)`,
      );
    }
    const transfer = context.transfers.find<PutTransfer>(args.transfer, "put");
    const turn = transfer.serial.run(() => writePart(context, transfer, args));
    if (turn === undefined) {
      throw new WorkerError(
        "busy",
        `more than ${MAX_WAITING_PARTS} parts of transfer ${args.transfer} are waiting their turn; send fewer at once`,
      );
    }
    return turn;
  },
});

async function writePart(context: VerbContext, transfer: PutTransfer, args: PutPartArgs) {
  if (!context.transfers.holds(transfer)) context.transfers.find(transfer.id, "put");
  const { received } = transfer;
  const refuse = (why: string) => new WorkerError("invalid_arguments", why, { details: { received } });
  const length = base64DecodedLength(args.data);
  if (args.offset < received && args.offset + length <= received) return { received };
  if (args.offset !== received) {
    throw refuse(`args.offset: ${args.offset}, but ${received} bytes were received: go on from there`);
  }
  if (length === 0) throw refuse("args.data: a part holds at least one byte");
  if (received + length > transfer.plan.size) {
    throw refuse(
      `args.data: the part ends at byte ${received + length}, beyond the size of ${transfer.plan.size}`,
    );
  }
  const data = Buffer.from(args.data, "base64");
  if (sha256Hex(data) !== args.sha256) {
    throw refuse("the part was damaged in transit (its sha256 differs): send it again");
  }
  try {
    await writeAll(context, transfer.handle, data, args.data);
    // The agent buffers writes (stdio): flushed, an acknowledged part is in the guest's file, where a
    // put-begin after a worker or agent restart reads it back, and is not asked for again.
    await context.agent.call(
      "guest-file-flush",
      { handle: transfer.handle },
      { timeoutMs: remainingMs(context, "before the part was flushed") },
    );
  } catch (error) {
    // What the guest holds is no longer known for sure: forget the transfer, so that put-begin asks the
    // guest how long the file is and goes on from there.
    const confirmed = error instanceof PartialWrite ? error.confirmed : 0;
    const cause = error instanceof PartialWrite ? error.cause : error;
    await context.transfers.drop(transfer);
    if (isInternal(cause)) throw cause;
    const { code, message } = toReplyError(cause);
    throw new WorkerError(
      code,
      `${message}; begin the transfer again (put-begin) to go on from what the guest has`,
      {
        cause,
        details: { received: received + confirmed },
      },
    );
  }
  transfer.hash.update(data);
  transfer.received = received + length;
  // In place, the guest's file cannot tell our bytes from an older file's: the worker's record can.
  if (!transfer.plan.atomic) {
    context.transfers.ledger?.note(transfer.id, { received: transfer.received, sha256: transfer.digest() });
  }
  progress(context, transfer, transfer.received, transfer.plan.size);
  return { received: transfer.received };
}
