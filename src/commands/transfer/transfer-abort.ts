import { argsObject } from "../../qga/catalogue/scalars.js";
import { openFile } from "../verbs/guest-file.js";
import { defineVerb, type VerbContext } from "../verbs/verb.js";
import { argTransferId } from "./common.js";
import { cannotRun, RM, runProgram } from "./guest-program.js";
import { closeHandle } from "./held.js";
import { PutTransfer } from "./put-state.js";

/**
 * Forgets a transfer and closes its handle, after the part under way. A put's temporary file is removed
 * (`/bin/rm -f` through guest-exec) or, where guest-exec may not run it, emptied; a put that is not atomic
 * leaves `path` as far as it was written.
 */
export const transferAbort = defineVerb({
  name: "transfer-abort",
  set: "files",
  args: argsObject({ transfer: argTransferId() }),
  async run(context, args) {
    const held = context.transfers.peek(args.transfer);
    const transfer = context.transfers.find(args.transfer, held?.direction ?? "put");
    context.transfers.forget(transfer.id);
    await transfer.serial.settled();
    await transfer.release();
    if (transfer instanceof PutTransfer && !transfer.plan.atomic)
      context.transfers.ledger?.forget(transfer.id);
    if (transfer instanceof PutTransfer && transfer.plan.atomic) await discard(context, transfer.plan.temp);
    return { aborted: true };
  },
});

async function discard(context: VerbContext, temp: string): Promise<void> {
  if (cannotRun(context, RM) === undefined) {
    await runProgram(context, RM, ["-f", "--", temp]);
    return;
  }
  await closeHandle(context.agent, context.log, await openFile(context, temp, "w"));
}
