import { argsObject } from "../../qga/catalogue/scalars.js";
import { defineVerb } from "../verbs/verb.js";
import { argTransferId, progress } from "./common.js";
import type { GetTransfer } from "./get-state.js";

/** Ends a get: the bytes served and their sha256, in order; the handle is closed. */
export const getEnd = defineVerb({
  name: "get-end",
  set: "files",
  args: argsObject({ transfer: argTransferId() }),
  async run(context, args) {
    const transfer = context.transfers.find<GetTransfer>(args.transfer, "get");
    return transfer.serial.run(async () => {
      if (!context.transfers.holds(transfer)) context.transfers.find(transfer.id, "get");
      await context.transfers.drop(transfer);
      progress(context, transfer, transfer.served, transfer.size, true);
      return { bytes: transfer.served, sha256: transfer.hash.copy().digest("hex") };
    }, true)!;
  },
});
