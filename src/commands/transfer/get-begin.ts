import { randomBytes } from "node:crypto";
import { WorkerError } from "../../errors.js";
import { argCount, argsObject } from "../../qga/catalogue/scalars.js";
import { argPath } from "../paths.js";
import { openFile } from "../verbs/guest-file.js";
import { allowedFile } from "../verbs/guest-paths.js";
import { defineVerb, type VerbContext } from "../verbs/verb.js";
import { GetTransfer } from "./get-state.js";
import { hashFrom, lengthOf, seekSet } from "./guest-io.js";
import { closeHandle } from "./held.js";
import { newHash } from "./put-state.js";

/**
 * Begins reading a file in parts: opens it, learns its size (the get serves that many bytes at most),
 * and with `offset` starts there, reading [0, offset) first to build the running sha256.
 */
export const getBegin = defineVerb({
  name: "get-begin",
  set: "files",
  args: argsObject({ path: argPath(), offset: argCount().optional() }),
  async run(context, args) {
    const path = await allowedFile(context, args.path);
    const id = randomBytes(8).toString("hex");
    return context.transfers.beginOnce(id, async () => {
      context.transfers.checkRoom();
      const transfer = await open(context, id, path, args.offset ?? 0);
      context.transfers.add(transfer);
      return {
        transfer: id,
        size: transfer.size,
        part_bytes: context.limits.transferPartBytes,
        offset: transfer.served,
      };
    });
  },
});

async function open(context: VerbContext, id: string, path: string, offset: number): Promise<GetTransfer> {
  const handle = await openFile(context, path, "r");
  try {
    const size = await lengthOf(context, handle);
    if (size > context.limits.transferBytes) {
      throw new WorkerError(
        "invalid_arguments",
        `${path} is ${size} bytes, over the limit of ${context.limits.transferBytes} (limits.transferBytes)`,
      );
    }
    if (offset > size) {
      throw new WorkerError("invalid_arguments", `args.offset: ${offset}, beyond the file's ${size} bytes`);
    }
    await seekSet(context, handle, 0);
    const hash = newHash();
    if (offset > 0 && (await hashFrom(context, handle, offset, hash)) !== offset) {
      throw new WorkerError(
        "agent_error",
        `the file ended before byte ${offset}, though it is ${size} bytes`,
      );
    }
    return new GetTransfer(id, path, handle, size, offset, hash, context.agent, context.log);
  } catch (error) {
    await closeHandle(context.agent, context.log, handle);
    throw error;
  }
}
