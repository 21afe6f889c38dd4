import { WorkerError } from "../../errors.js";
import { argsObject } from "../../qga/catalogue/scalars.js";
import { remainingMs } from "../verbs/deadline.js";
import { defineVerb, type VerbContext } from "../verbs/verb.js";
import { argTransferId, progress } from "./common.js";
import { CHMOD, MV, runProgram } from "./guest-program.js";
import type { PutTransfer } from "./put-state.js";

/**
 * Ends a put: every byte received and their sha256 the one declared, then flush, close, chmod (with
 * mode) and, atomic, the rename of the temporary file over the path. The reply comes after the rename.
 */
export const putEnd = defineVerb({
  name: "put-end",
  set: "files",
  args: argsObject({ transfer: argTransferId() }),
  async run(context, args) {
    const transfer = context.transfers.find<PutTransfer>(args.transfer, "put");
    const turn = transfer.serial.run(() => end(context, transfer), true);
    return turn!;
  },
});

async function end(context: VerbContext, transfer: PutTransfer) {
  if (!context.transfers.holds(transfer)) context.transfers.find(transfer.id, "put");
  const { plan, received } = transfer;
  if (received !== plan.size) {
    throw new WorkerError(
      "invalid_arguments",
      `${received} of ${plan.size} bytes were received: send the rest with put-part from offset ${received}`,
      { details: { received } },
    );
  }
  const sha256 = transfer.digest();
  // Ended either way: an in-place file that matches is done, one that does not is written again.
  if (!plan.atomic) context.transfers.ledger?.forget(plan.id);
  if (sha256 !== plan.sha256) {
    // Left as it is; the next put-begin of this file finds it complete, hashes it, and starts over.
    await context.transfers.drop(transfer);
    throw new WorkerError(
      "agent_error",
      `the file in the guest does not match: its ${received} bytes hash to ${sha256}, not ${plan.sha256}; ` +
        "put-begin again to start over",
      { details: { received, sha256 } },
    );
  }
  try {
    await context.agent.call(
      "guest-file-flush",
      { handle: transfer.handle },
      { timeoutMs: remainingMs(context, "before the file was flushed") },
    );
  } finally {
    await context.transfers.drop(transfer);
  }
  if (plan.mode !== undefined) await runProgram(context, CHMOD, [plan.mode, "--", plan.temp]);
  if (plan.atomic) await runProgram(context, MV, ["-f", "--", plan.temp, plan.path]);
  progress(context, transfer, received, plan.size, true);
  return { path: plan.path, bytes: received, sha256 };
}
