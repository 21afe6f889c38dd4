import { z } from "zod";
import { argNonEmptyString, argsObject } from "../../qga/catalogue/scalars.js";
import { AgentTimeoutError } from "../../qga/errors.js";
import { defineVerb, type VerbContext } from "./verb.js";

// A Linux mount point or a Windows volume ("C:\\"): the agent matches them as written, so no shape is imposed.
const mountpoints = z
  .array(argNonEmptyString(), {
    error: (iss) => (iss.input === undefined ? undefined : "mountpoints must be an array of mount points"),
  })
  // An empty list would ask the agent to freeze nothing; omit it to freeze every filesystem.
  .min(1, { error: "mountpoints must name at least one mount point (omit it to freeze all)" })
  .max(256, { error: "mountpoints must have at most 256 items" });

/**
 * `guest-fsfreeze-freeze` (all filesystems) or `guest-fsfreeze-freeze-list` (the named mount points).
 * The client marks the guest frozen from the reply (when it froze anything), which starts the worker's
 * `frozen` event and the FreezeGuard's deadline (`fsfreeze.maxSeconds`). After a timeout the freeze may
 * still complete in the guest, and a frozen guest nobody knows of would be an outage with no automatic
 * thaw: the verb then asks `guest-fsfreeze-status` (answered while frozen) in the background.
 */
export const freeze = defineVerb({
  name: "freeze",
  set: "freeze",
  args: argsObject({ mountpoints: mountpoints.optional() }),
  async run(context, args) {
    const options = { timeoutMs: context.timeoutMs };
    let count: number;
    try {
      count = args.mountpoints
        ? await context.agent.call("guest-fsfreeze-freeze-list", { mountpoints: args.mountpoints }, options)
        : await context.agent.call("guest-fsfreeze-freeze", {}, options);
    } catch (error) {
      // In the background: the reply is already late, and the status waits behind the freeze in the agent.
      if (error instanceof AgentTimeoutError) void refreshFreezeState(context);
      throw error;
    }
    context.log.info({ filesystems: count, mountpoints: args.mountpoints }, "froze the guest's filesystems");
    return { frozen: count };
  },
});

/** `guest-fsfreeze-thaw`: thaws whatever is frozen (0 when nothing was). */
export const thaw = defineVerb({
  name: "thaw",
  set: "freeze",
  args: argsObject({}),
  async run(context) {
    const count = await context.agent.call("guest-fsfreeze-thaw", {}, { timeoutMs: context.timeoutMs });
    context.log.info({ filesystems: count }, "thawed the guest's filesystems");
    return { thawed: count };
  },
});

/** Lets the client learn the agent's real freeze state; a failure here changes nothing for the caller. */
async function refreshFreezeState(context: VerbContext): Promise<void> {
  try {
    await context.agent.call("guest-fsfreeze-status", {}, { timeoutMs: 10_000 });
  } catch (error) {
    context.log.warn({ err: error }, "could not ask the agent whether the guest is frozen");
  }
}
